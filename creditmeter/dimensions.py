"""The usage dimensions: what usage is grouped and filtered by.

Each dimension has two names in the contract: its ``name``, the ``groupBy``
value and the store's column (``api_key``), and its ``field``, the event field
and the export's filter parameter (``apiKey``). Every list of dimensions in
creditmeter (the export's parameters, the OpenAPI document, the client, the
command line, the dashboard) is derived from :data:`DIMENSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Dimension:
    """One dimension: ``name`` is its groupBy value and column, ``field`` its filter."""

    name: str
    field: str
    #: What one value is called in a sentence ("no API key", "3 API keys").
    noun: str


#: In the contract's order.
DIMENSIONS = (
    Dimension("product", "product", "product"),
    Dimension("feature", "feature", "feature"),
    Dimension("api_key", "apiKey", "API key"),
    Dimension("file_type", "fileType", "file type"),
)
#: The groupBy values, which are also the store's column names.
GROUP_BY = tuple(dimension.name for dimension in DIMENSIONS)
#: What usage is grouped by when the caller does not say.
DEFAULT_GROUP_BY = "product"
#: :data:`GROUP_BY` as a type, for Pydantic models.
GroupBy = Literal[GROUP_BY]  # type: ignore[valid-type]
#: Filter parameter (event field) → groupBy value (column).
FILTERS = {dimension.field: dimension.name for dimension in DIMENSIONS}
BY_NAME = {dimension.name: dimension for dimension in DIMENSIONS}
