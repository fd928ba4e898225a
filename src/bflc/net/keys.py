"""Key files: the private key a node or operator signs transactions with.

A key file holds either a raw private key (64 hex digits, ``0x`` optional,
surrounding whitespace ignored) or an Ethereum V3 keystore JSON as geth,
Foundry's ``cast wallet`` and MetaMask export it. A raw key file must not be
readable by other users (``chmod 600``); a keystore is encrypted, so its mode
is not checked.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bflc.errors import ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

PASSWORD_ENV = "BFLC_KEY_PASSWORD"
"""Environment variable holding a keystore's password when none is passed."""

_KEY_FORMATS = "a key file holds 64 hex digits (0x optional) or an Ethereum V3 keystore JSON"
_HEX_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def load_key(path: str | Path, password: str | None = None) -> LocalAccount:
    """Load the private key in ``path``.

    Parameters
    ----------
    path:
        A raw hex key file (mode 0600 or stricter) or a V3 keystore JSON.
    password:
        The keystore's password; when ``None``, ``$BFLC_KEY_PASSWORD``, else
        the empty password. Ignored for raw key files.

    Returns
    -------
    LocalAccount
        The account, able to sign transactions.

    Raises
    ------
    ConfigError
        If the file is missing or unreadable, holds neither format, is a raw
        key readable by other users, or the keystore password is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read key file {path}: {error}", f"pass an existing key file; {_KEY_FORMATS}") from None
    if text.lstrip().startswith("{"):
        return _decrypt_keystore(path, text, password)
    _check_private(path)
    return _account_from_hex(path, text.strip())


def new_key_file(path: str | Path, password: str | None = None) -> str:
    """Create a new random key in ``path`` (mode 0600) and return its address.

    Parameters
    ----------
    path:
        Where to write; must not exist yet.
    password:
        When given, the key is written as a V3 keystore encrypted with it
        (scrypt, as geth does); otherwise as a raw hex key.

    Raises
    ------
    ConfigError
        If ``path`` exists or cannot be created.
    """
    from eth_account import Account

    path = Path(path)
    account = Account.create()
    content = account.key.hex().removeprefix("0x") + "\n" if password is None else json.dumps(Account.encrypt(account.key, password))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"key file {path} already exists", "choose another path; bflc never overwrites a key") from None
    except OSError as error:
        raise ConfigError(f"cannot create key file {path}: {error}", "check that its directory exists and is writable") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    return str(account.address)


def read_password_file(path: str | Path) -> str:
    """The password in ``path``: its first line, without the line break.

    Raises
    ------
    ConfigError
        If the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read password file {path}: {error}", "pass an existing text file") from None
    return text.splitlines()[0] if text else ""


def _check_private(path: Path) -> None:
    if os.name != "posix":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(
            f"key file {path} is accessible to every user (mode {stat.S_IMODE(mode):04o}); refusing to use it",
            f"run `chmod 600 {path}`",
        )


def _account_from_hex(path: Path, text: str) -> LocalAccount:
    from eth_account import Account

    if not _HEX_KEY.fullmatch(text):
        raise ConfigError(f"key file {path} holds no private key", _KEY_FORMATS)
    try:
        account: LocalAccount = Account.from_key(text)
    except ValueError:  # zero or not below the curve order
        raise ConfigError(f"key file {path} holds an invalid private key", "create a new one with `bflc keys new`") from None
    return account


def _decrypt_keystore(path: Path, text: str, password: str | None) -> LocalAccount:
    from eth_account import Account

    try:
        keystore: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"key file {path} is not valid JSON: {error}", _KEY_FORMATS) from None
    if not isinstance(keystore, dict) or not ({"crypto", "Crypto"} & keystore.keys()):
        raise ConfigError(f"key file {path} is JSON but not an Ethereum V3 keystore", _KEY_FORMATS)
    given = password if password is not None else os.environ.get(PASSWORD_ENV)
    try:
        key = Account.decrypt(keystore, given or "")
    except ValueError as error:
        if "mac mismatch" not in str(error).lower():
            raise ConfigError(f"keystore {path} is malformed: {error}", _KEY_FORMATS) from None
        if given is None:
            raise ConfigError(
                f"keystore {path} is encrypted", f"give its password with --password-file or ${PASSWORD_ENV}"
            ) from None
        raise ConfigError(f"wrong password for keystore {path}", "check the password file or $" + PASSWORD_ENV) from None
    except (KeyError, TypeError) as error:
        raise ConfigError(f"keystore {path} is malformed: missing or bad field {error}", _KEY_FORMATS) from None
    account: LocalAccount = Account.from_key(key)
    return account
