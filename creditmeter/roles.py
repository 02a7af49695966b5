"""The roles a user can hold in an organization."""

from __future__ import annotations

from typing import Literal

#: In the contract's order.
ROLES = ("owner", "admin", "member")
#: The role of a member added without one.
DEFAULT_ROLE = "member"
#: :data:`ROLES` as a type, for Pydantic models.
Role = Literal[ROLES]  # type: ignore[valid-type]
