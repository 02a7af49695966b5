"""Storage: the schema, its migrations and the SQL. Knows nothing of HTTP."""

from creditmeter.store.database import Store, StoreUnreachable, UnknownSchema, open_store

__all__ = ["Store", "StoreUnreachable", "UnknownSchema", "open_store"]
