"""Sealing every stored webhook secret again under the newest key, so an old key can go.

``CREDITMETER_SECRET_KEY`` may hold several keys, newest first: the newest seals, any
of them opens (:mod:`creditmeter.webhooks.sealing`). :func:`reseal_secrets` walks the
endpoints in batches, each in its own write transaction with its rows locked, and
seals each secret again under the newest key (``MultiFernet.rotate``); after it no
stored secret needs the older keys. ``creditmeter secret-key --reseal`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from creditmeter.errors import SecretUnreadable
from creditmeter.store import Store
from creditmeter.store import alerts as sql
from creditmeter.webhooks.sealing import Sealer

#: Endpoints sealed again in one transaction.
BATCH = 100


@dataclass
class Resealed:
    """What a re-seal did."""

    #: Endpoints whose secret is now sealed under the newest key.
    secrets: int = 0
    #: Replaced secrets (still signing, 24 hours after a rotation) sealed again.
    previous: int = 0
    #: Replaced secrets past their 24 hours, which sign no more: removed.
    expired: int = 0
    #: Endpoints whose secret opens with no key: left as they were.
    unreadable: list[str] = field(default_factory=list)
    #: Endpoints whose replaced secret opens with no key: left (it does not sign).
    previous_unreadable: list[str] = field(default_factory=list)


def reseal_secrets(store: Store, sealer: Sealer, *, now_us: int) -> Resealed:
    """Seal every endpoint's secret (and the one a rotation replaced) again under the
    newest key of ``sealer``. A secret no key opens is left as it is and listed."""
    done = Resealed()
    after = ""
    while True:
        with store.write() as connection:
            rows = sql.endpoint_secrets_after(connection, after, BATCH)
            for row in rows:
                webhook_id = row["id"]
                values: dict[str, object] = {}
                try:
                    values["secret"] = sealer.reseal(row["secret"], webhook_id)
                    done.secrets += 1
                except SecretUnreadable:
                    done.unreadable.append(webhook_id)
                if row["previous_secret"] is not None:
                    if (row["previous_until_us"] or 0) <= now_us:
                        values.update(previous_secret=None, previous_until_us=None)
                        done.expired += 1
                    else:
                        try:
                            values["previous_secret"] = sealer.reseal(
                                row["previous_secret"], webhook_id
                            )
                            done.previous += 1
                        except SecretUnreadable:
                            done.previous_unreadable.append(webhook_id)
                if values:
                    sql.update_endpoint(connection, webhook_id, values)
        if len(rows) < BATCH:
            return done
        after = rows[-1]["id"]
