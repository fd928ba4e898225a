"""A node's state directory: what it has done, its blob cache, its lock.

Layout of ``--state-dir``::

    state.json    per round: update sealed (with its salt) or revealed, scores sent, model proposed
    status.json   last round seen, role, last action, accuracy of the global model
    node.log      one JSON line per action (see :mod:`bflc.node.journal`)
    node.lock     held (flock) by the running daemon; holds its PID
    blobs/        LocalBlobStore cache of the models it fetched or produced

The chain stays the source of truth: the daemon checks it before every step,
so a lost or stale state file never causes a double commitment or reveal.
The state file lets a restarted node commit or reveal the update it sealed
before a crash (the salt that opens its commitment is only here) and tells
an operator what the node did.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bflc.errors import ConfigError
from bflc.files import json_bytes, write_atomically
from bflc.storage import LocalBlobStore

STATE_VERSION = 1


def read_json(path: Path) -> Any:
    """The JSON document at ``path``, or ``None`` if there is none.

    Raises
    ------
    ConfigError
        If the file exists but is not valid JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}", "fix or delete the file; the chain has the truth") from error


class StateDir:
    """The paths of one node's state directory (created if missing).

    Parameters
    ----------
    root:
        The directory.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot create state directory {self.root}: {error}") from error
        self.state_file = self.root / "state.json"
        self.status_file = self.root / "status.json"
        self.log_file = self.root / "node.log"
        self.lock_file = self.root / "node.lock"
        self.blobs = LocalBlobStore(self.root / "blobs")

    def __repr__(self) -> str:
        return f"StateDir({str(self.root)!r})"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's lock for the duration of the block.

        The lock is an ``flock`` on ``node.lock``: the kernel releases it when
        the process exits, even on ``kill -9``, so a crashed node restarts
        without manual cleanup.

        Raises
        ------
        ConfigError
            If another process holds it (a second daemon on the same directory).
        """
        handle = self.lock_file.open("a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise ConfigError(
                    f"another bflc node (pid {holder}) is running on the state directory {self.root}",
                    "stop it first, or give this node its own --state-dir",
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            handle.close()


class NodeState:
    """What this node did per round, persisted in ``state.json``.

    Each round's record may hold ``update`` (``blob``, ``n_samples``, the
    commitment's ``salt`` and, once revealed on chain, ``id``), ``scored`` (update id -> blob hash
    of every update this node voted on) and ``proposed`` (the blob hash of
    its proposed aggregate).

    Parameters
    ----------
    path:
        The state file.
    contract, account:
        The network and account the directory belongs to; a state file of
        another contract or account is refused.
    """

    def __init__(self, path: Path, contract: str, account: str) -> None:
        self.path = path
        document = read_json(path)
        if document is None:
            document = {"version": STATE_VERSION, "contract": contract, "account": account, "rounds": {}}
        for key, expected in (("contract", contract), ("account", account)):
            if document.get(key, "").lower() != expected.lower():
                raise ConfigError(
                    f"the state directory {path.parent} belongs to {key} {document.get(key)}, not {expected}",
                    "give each network and key its own --state-dir",
                )
        self.document = document

    @property
    def rounds(self) -> dict[str, dict[str, Any]]:
        """The (mutable) records of every round, by round number as text."""
        rounds: dict[str, dict[str, Any]] = self.document["rounds"]
        return rounds

    def round(self, round: int) -> dict[str, Any]:
        """The (mutable) record of ``round``; empty if nothing happened yet."""
        return self.rounds.setdefault(str(round), {})

    def record_update(self, round: int, blob: str, n_samples: int, salt: str, update_id: int | None = None) -> None:
        """An update sealed (``update_id`` None: committed or about to be) or revealed on chain.

        ``salt`` (hex) opens the commitment: it is written before the
        commitment is sent, so a restarted node can still reveal.
        """
        self.round(round)["update"] = {"blob": blob, "n_samples": n_samples, "salt": salt, "id": update_id}
        self.save()

    def record_scores(self, round: int, scored: dict[int, str]) -> None:
        """Votes sent for these update ids (id -> blob hash)."""
        self.round(round).setdefault("scored", {}).update({str(k): v for k, v in scored.items()})
        self.save()

    def record_proposal(self, round: int, blob: str) -> None:
        """The aggregate this node proposed for ``round``."""
        self.round(round)["proposed"] = blob
        self.save()

    def save(self) -> None:
        """Write the state file atomically."""
        write_atomically(self.path, json_bytes(self.document))
