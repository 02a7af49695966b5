"""Webhook secrets sealed at rest, with Fernet (AES-128-CBC and HMAC-SHA256).

The server signs every attempt with its endpoint's secret, so the secret cannot be
a hash: it is stored sealed, and opened only to sign an attempt
(docs/decisions/0011-alerts.md). The key, by :func:`sealer_for`:

- ``CREDITMETER_SECRET_KEY`` when it is set: every server of one database sets the
  same key (``creditmeter secret-key`` prints a new one), or several, comma-separated
  and newest first, while the key changes: the newest seals, any of them opens
  (``MultiFernet``), and ``creditmeter secret-key --reseal`` seals every stored
  secret again under the newest, after which the older keys can go;
- else, for a SQLite file, a key file beside it (``<database file>.key``, mode
  0600), one key, made when the first secret is sealed;
- else (PostgreSQL, or any server database, without the setting) none: sealing and
  opening fail with :class:`SecretKeyMissing`, saying to set the key.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

# The errors live with every other (creditmeter/errors.py); importable from here too.
from creditmeter.errors import SealingError, SecretKeyMissing, SecretUnreadable

__all__ = [
    "KEY_VARIABLE",
    "Sealer",
    "SealingError",
    "SecretKeyMissing",
    "SecretUnreadable",
    "check_keys",
    "new_key",
    "parse_keys",
    "sealer_for",
]

KEY_VARIABLE = "CREDITMETER_SECRET_KEY"


def new_key() -> str:
    """A fresh key for ``CREDITMETER_SECRET_KEY``: 32 random bytes, url-safe base64."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    """The keys of a ``CREDITMETER_SECRET_KEY`` value: comma-separated, newest first."""
    return [part.strip() for part in text.split(",")] if text.strip() else []


_ORDINALS = ("first", "second", "third")


def _ordinal(index: int) -> str:
    return _ORDINALS[index] if index < len(_ORDINALS) else f"{index + 1}th"


def check_keys(text: str) -> list[str]:
    """The keys of ``text`` (see :func:`parse_keys`); ValueError, which names the key by
    its place and never repeats one, unless each is a Fernet key."""
    keys = parse_keys(text)
    for index, key in enumerate(keys):
        which = f"the {_ordinal(index)} key" if len(keys) > 1 else "it"
        if not key:
            raise ValueError(
                f"{which} is empty: give keys separated by single commas, the newest first"
            )
        try:
            Fernet(key)
        except (ValueError, binascii.Error):
            raise ValueError(
                f"{which} must be a Fernet key, 44 characters of url-safe base64 such as "
                "`creditmeter secret-key` prints (several keys: separated by commas, the "
                "newest first)"
            ) from None
    return keys


class Sealer:
    """Seals webhook secrets for the store and opens them to sign an attempt.

    ``key``: the keys themselves, newest first (a list, or the setting's comma-separated
    text): the newest seals, each of them opens (``MultiFernet``), so a key can be
    replaced without losing the secrets it sealed (docs/alerts.md, "Changing the key");
    else ``key_file``, one key, read (and made when sealing, if it does not exist) on
    first use; else no key at all.
    """

    def __init__(
        self, key: str | Sequence[str] | None = None, *, key_file: Path | None = None
    ) -> None:
        keys = parse_keys(key) if isinstance(key, str) else list(key or ())
        self.key_count = len(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None
        self.key_file = key_file
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        """Where the keys come from, for messages (never a key itself)."""
        if self.key_file is not None:
            return f"the key file {self.key_file}"
        if self._fernet is None:
            return "no key"
        if self.key_count > 1:
            return f"any of the {self.key_count} keys of {KEY_VARIABLE}"
        return KEY_VARIABLE

    def _key(self, *, create: bool) -> MultiFernet:
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
                    self._fernet = MultiFernet([Fernet(text)])
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
        """The stored form of ``secret``: a Fernet token (text), under the newest key."""
        return self._key(create=True).encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, webhook_id: str) -> str:
        """The secret ``sealed`` holds; :class:`SecretUnreadable` if no key opens it."""
        key = self._key(create=False)
        try:
            return key.decrypt(sealed.encode("ascii", "replace")).decode("utf-8")
        except InvalidToken:
            raise self._unreadable(webhook_id) from None

    def reseal(self, sealed: str, webhook_id: str) -> str:
        """``sealed`` sealed again under the newest key (``MultiFernet.rotate``);
        :class:`SecretUnreadable` if no key opens it."""
        key = self._key(create=False)
        try:
            return key.rotate(sealed.encode("ascii", "replace")).decode("ascii")
        except InvalidToken:
            raise self._unreadable(webhook_id) from None

    def _unreadable(self, webhook_id: str) -> SecretUnreadable:
        return SecretUnreadable(
            f"The signing secret of webhook endpoint {webhook_id} does not decrypt with "
            f"{self.source}: set the key it was encrypted with, or rotate the endpoint's "
            "secret."
        )


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


def sealer_for(database_url: str, key: str | Sequence[str] | None) -> Sealer:
    """The sealer of the database at ``database_url`` (see the module's docstring);
    ``key``: the setting's keys, newest first."""
    if key:
        return Sealer(key)
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return Sealer()
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return Sealer(new_key())  # a database that lives as long as the process
    return Sealer(key_file=Path(database + ".key").absolute())
