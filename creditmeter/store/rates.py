"""SQL of the rate card: rate versions (only ever inserted) and each product's unit.

Rows cross this boundary as plain dicts; ``org_id`` and ``feature`` are ``''``
for the global card and for any feature (see the schema). The rules about what
a rate is live in :mod:`creditmeter.rates` and :mod:`creditmeter.pricing`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from creditmeter.store.schema import rate_units, rate_versions

#: The columns of a version, as :func:`insert_versions` takes them (``seq`` is made here).
VERSION_COLUMNS = (
    "id",
    "org_id",
    "product",
    "feature",
    "unit",
    "credits_per_unit_micro",
    "effective_from_us",
    "created_at_us",
)


def insert_versions(connection: Connection, rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Record versions, in the given order; their ``seq`` (the order of recording)."""
    return [
        connection.execute(insert(rate_versions).values(**row)).inserted_primary_key[0]
        for row in rows
    ]


def claim_units(connection: Connection, units: Mapping[str, str]) -> dict[str, str]:
    """Name each product's unit where it has none yet; every product's unit after.

    A product's first unit is inserted (a concurrent writer of the same product
    waits for this transaction, then finds it), so the answer may differ from
    ``units``: the caller refuses a version whose unit is not the product's.
    """
    if not units:
        return {}
    build = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for product in sorted(units):
        connection.execute(
            build(rate_units)
            .values(product=product, unit=units[product])
            .on_conflict_do_nothing(index_elements=["product"])
        )
    return units_of(connection, units)


def units_of(connection: Connection, products: Collection[str]) -> dict[str, str]:
    """The unit of each of these products that has one."""
    if not products:
        return {}
    query = select(rate_units.c.product, rate_units.c.unit).where(
        rate_units.c.product.in_(sorted(products))
    )
    return {product: unit for product, unit in connection.execute(query)}


def versions_for(
    connection: Connection, products: Collection[str], org_ids: Collection[str] | None
) -> list[dict[str, Any]]:
    """Every version of these products on the global card and on the cards of
    ``org_ids`` (None: of every organization)."""
    if not products:
        return []
    columns = rate_versions.c
    query = select(rate_versions).where(columns.product.in_(sorted(products)))
    if org_ids is not None:
        query = query.where(columns.org_id.in_(["", *sorted(org_ids)]))
    return [dict(row) for row in connection.execute(query).mappings()]


def versions(
    connection: Connection,
    *,
    org_ids: Collection[str] | None = None,
    products: Collection[str] | None = None,
    features: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Every version recorded, those of ``org_ids`` (``''``: the global card),
    ``products`` and ``features`` (``''``: any feature) when given, in recording order."""
    columns = rate_versions.c
    query = select(rate_versions).order_by(columns.seq)
    for column, wanted in (
        (columns.org_id, org_ids),
        (columns.product, products),
        (columns.feature, features),
    ):
        if wanted is not None:
            query = query.where(column.in_(sorted(wanted)))
    return [dict(row) for row in connection.execute(query).mappings()]


def version(connection: Connection, rate_id: str) -> dict[str, Any] | None:
    """The version with this id, or None."""
    row = connection.execute(select(rate_versions).where(rate_versions.c.id == rate_id))
    found = row.mappings().first()
    return dict(found) if found is not None else None
