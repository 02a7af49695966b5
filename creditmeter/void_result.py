"""What a void did: :class:`VoidResult`, the answer of one void request.

The server builds it (``creditmeter.voids``) and the Python client reads it
from the answer: one type, so both mean the same. It imports nothing heavy:
``import creditmeter`` loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VoidResult:
    """What voiding a list of event ids did; each distinct id is accounted for once.

    - ``voided``: how many events this request voided.
    - ``already_voided``: ids whose event had been voided before (by any request
      or command); nothing about them changed.
    - ``not_found``: ids with no stored event of the organization.

    Both lists keep the order of each id's first appearance in the request.
    """

    voided: int = 0
    already_voided: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The void endpoint's answer: ``voided``, ``alreadyVoided``, ``notFound``."""
        return {
            "voided": self.voided,
            "alreadyVoided": list(self.already_voided),
            "notFound": list(self.not_found),
        }

    @classmethod
    def from_dict(cls, answer: dict[str, Any]) -> VoidResult:
        """The result from the void endpoint's answer."""
        return cls(
            voided=int(answer["voided"]),
            already_voided=[str(i) for i in answer["alreadyVoided"]],
            not_found=[str(i) for i in answer["notFound"]],
        )
