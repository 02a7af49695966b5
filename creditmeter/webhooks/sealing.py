"""Webhook secrets sealed at rest, with Fernet (AES-128-CBC and HMAC-SHA256) under one key.

The server signs every attempt with its endpoint's secret, so the secret cannot be
a hash: it is stored sealed, and opened only to sign an attempt
(docs/decisions/0011-alerts.md). The key, by :func:`sealer_for`:

- ``CREDITMETER_SECRET_KEY`` when it is set: every server of one database sets the
  same key (``creditmeter secret-key`` prints a new one);
- else, for a SQLite file, a key file beside it (``<database file>.key``, mode
  0600), made when the first secret is sealed;
- else (PostgreSQL, or any server database, without the setting) none: sealing and
  opening fail with :class:`SecretKeyMissing`, saying to set the key.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import secrets
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url

from creditmeter.errors import Unavailable

KEY_VARIABLE = "CREDITMETER_SECRET_KEY"


class SealingError(Unavailable):
    """A webhook secret cannot be sealed or opened: the message says what to change."""


class SecretKeyMissing(SealingError):
    """No key to seal with: a server database needs ``CREDITMETER_SECRET_KEY``."""


class SecretUnreadable(SealingError):
    """A sealed secret does not open with this key (or the key file is missing)."""


def new_key() -> str:
    """A fresh key for ``CREDITMETER_SECRET_KEY``: 32 random bytes, url-safe base64."""
    return Fernet.generate_key().decode("ascii")


def check_key(key: str) -> None:
    """ValueError (which never repeats the key) unless ``key`` is a Fernet key."""
    try:
        Fernet(key)
    except (ValueError, binascii.Error):
        raise ValueError(
            "it must be a Fernet key, 44 characters of url-safe base64 such as "
            "`creditmeter secret-key` prints"
        ) from None


class Sealer:
    """Seals webhook secrets for the store and opens them to sign an attempt.

    ``key``: the key itself; else ``key_file``, read (and made when sealing, if it
    does not exist) on first use; else no key at all.
    """

    def __init__(self, key: str | None = None, *, key_file: Path | None = None) -> None:
        self._fernet = Fernet(key) if key else None
        self.key_file = key_file
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        """Where the key comes from, for messages."""
        if self.key_file is not None:
            return f"the key file {self.key_file}"
        return KEY_VARIABLE if self._fernet is not None else "no key"

    def _key(self, *, create: bool) -> Fernet:
        if self._fernet is not None:
            return self._fernet
        if self.key_file is None:
            raise SecretKeyMissing(
                f"Webhook secrets are stored encrypted, and {KEY_VARIABLE} is not set: set it "
                "to a key from `creditmeter secret-key`, the same on every server of this "
                "database, and start the server again."
            )
        with self._lock:
            if self._fernet is None:
                if create:
                    _make_key_file(self.key_file)
                try:
                    text = self.key_file.read_text(encoding="ascii").strip()
                    self._fernet = Fernet(text)
                except FileNotFoundError:
                    raise SecretUnreadable(
                        f"The key file {self.key_file}, which encrypts this database's webhook "
                        "secrets, is missing: put it back beside the database, or rotate each "
                        "endpoint's secret."
                    ) from None
                except (ValueError, binascii.Error, UnicodeDecodeError):
                    raise SecretUnreadable(
                        f"The key file {self.key_file} does not hold a key: put the database's "
                        "own key file back, or rotate each endpoint's secret."
                    ) from None
        return self._fernet

    def seal(self, secret: str) -> str:
        """The stored form of ``secret``: a Fernet token (text)."""
        return self._key(create=True).encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, webhook_id: str) -> str:
        """The secret ``sealed`` holds; :class:`SecretUnreadable` if this key did not seal it."""
        key = self._key(create=False)
        try:
            return key.decrypt(sealed.encode("ascii", "replace")).decode("utf-8")
        except InvalidToken:
            raise SecretUnreadable(
                f"The signing secret of webhook endpoint {webhook_id} does not decrypt with "
                f"{self.source}: set the key it was encrypted with, or rotate the endpoint's "
                "secret."
            ) from None


def _make_key_file(path: Path) -> None:
    """Write a new key to ``path`` (mode 0600) unless it exists; atomic across processes."""
    if path.exists():
        return
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(new_key() + "\n")
            file.flush()
            os.fsync(file.fileno())
        # Fails if another process made it first: theirs is kept.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def sealer_for(database_url: str, key: str | None) -> Sealer:
    """The sealer of the database at ``database_url`` (see the module's docstring)."""
    if key:
        return Sealer(key)
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return Sealer()
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return Sealer(new_key())  # a database that lives as long as the process
    return Sealer(key_file=Path(database + ".key").absolute())
