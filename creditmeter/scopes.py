"""The scopes a service token can carry: what a machine may do."""

from __future__ import annotations

from typing import Literal

USAGE_WRITE = "usage:write"
ADMIN = "admin"
#: In the contract's order.
SCOPES = (USAGE_WRITE, ADMIN)
#: :data:`SCOPES` as a type, for Pydantic models.
Scope = Literal[SCOPES]  # type: ignore[valid-type]
