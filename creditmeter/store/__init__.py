"""Storage: the schema, its migrations and the SQL. Knows nothing of HTTP."""

from creditmeter.store.database import (
    Store,
    StoreOptions,
    StoreUnreachable,
    UnknownSchema,
    open_store,
)

__all__ = ["Store", "StoreOptions", "StoreUnreachable", "UnknownSchema", "open_store"]
