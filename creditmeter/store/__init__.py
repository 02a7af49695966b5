"""Storage: the schema, its migrations and the SQL. Knows nothing of HTTP."""

# A connection in one of a Store's transactions (``Store.read()``, ``Store.write()``):
# what callers hold and pass back in, never use for SQL of their own.
from sqlalchemy import Connection

from creditmeter.store.database import (
    Store,
    StoreOptions,
    StoreUnreachable,
    UnknownSchema,
    open_store,
)

__all__ = ["Connection", "Store", "StoreOptions", "StoreUnreachable", "UnknownSchema", "open_store"]
