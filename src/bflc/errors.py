"""Typed errors. Each says what was wrong and what to do about it.

The CLI prints ``str(error)`` as one line and exits non-zero; ``--debug``
shows the traceback.
"""

from __future__ import annotations


class BflcError(Exception):
    """Base class of every error bflc raises on purpose.

    Parameters
    ----------
    message:
        What went wrong, in one sentence.
    hint:
        What the user can do about it (optional).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(BflcError):
    """A parameter or option has a value bflc cannot use."""


def require(checks: list[tuple[bool, str]], what: str) -> None:
    """Raise ConfigError for the first ``(ok, message)`` pair that is not ok.

    >>> require([(True, "fine"), (False, "x must be positive")], "setting")
    Traceback (most recent call last):
    bflc.errors.ConfigError: invalid setting: x must be positive
    """
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"invalid {what}: {message}")


class DataError(BflcError):
    """A dataset file is missing, corrupt or inconsistent."""


class LearnerError(BflcError):
    """The node's learner (its model code, data or Flower client) failed."""


class BlobError(BflcError):
    """A model blob is missing, malformed, oversize or fails its hash check."""


class UnverifiedBlob(BlobError):
    """The store holds no copy of a blob that matches its hash.

    The copy is missing, not a regular file, too large to be a model of the
    network, or its bytes hash to something else. This says nothing against
    whoever made the blob: anyone who can write to the store may have removed
    or replaced it, so a node that holds the blob puts it back
    (:meth:`bflc.roles.ModelBlobs.guard`) and members wait a while before they
    score such an update 0.

    Parameters
    ----------
    message, hint:
        As :class:`BflcError`.
    reason:
        A few words for logs: ``"blob missing"``, ``"hash mismatch"``,
        ``"not a regular file"`` or ``"oversize"``.
    """

    def __init__(self, message: str, hint: str | None = None, *, reason: str) -> None:
        super().__init__(message, hint)
        self.reason = reason


class BlobUnavailable(BlobError):
    """The blob store could not be reached or failed to answer.

    It says nothing about the blob itself, and is worth trying again.
    """


class ChainError(BflcError):
    """The chain could not be reached or answered unexpectedly."""


class ContractRevert(ChainError):
    """A transaction or call was reverted by the contract.

    ``reason`` holds the contract's revert string exactly as written in
    ``contracts/BFLC.vy``.
    """

    def __init__(self, reason: str, function: str | None = None) -> None:
        self.reason = reason
        self.function = function
        where = f" in {function}" if function else ""
        super().__init__(f"contract reverted{where}: {reason}")


class EndpointError(ChainError):
    """The chain's JSON-RPC endpoint answered something that cannot be decoded.

    A body that is not JSON, a truncated or oversized answer, bad hex, a
    missing field, a value of the wrong type or out of range: the endpoint is
    untrusted, so such an answer is a failure worth retrying, never a crash.
    """
