"""What recording usage did: :class:`RecordResult`, one batch's answer or the sum of many.

The server builds it for each batch (``creditmeter.ingest``) and sums the
batches of ``creditmeter ingest``; the Python client reads it from each answer
and sums the batches it sent. One type, so both sums mean the same. It imports
nothing heavy: ``import creditmeter`` loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordResult:
    """What recording events did, for one batch or summed over batches.

    - ``accepted``: events newly stored.
    - ``duplicates``: events already stored with the same organization and id
      (including repeats within a batch); every copy counts.
    - ``conflicts``: the ids of duplicates whose content differed from the
      stored event (the stored one wins). Each id once, in the order first
      reported, however many copies or batches differed: it is the list of ids
      to look into, not a count of copies.
    - ``batches``: how many batches (requests) carried the events.
    - ``unknown_org_ids``: the organizations the events were for that the
      directory does not hold, sorted, each once. Their events are stored all
      the same; they can be exported once the organization is created.

    ``a + b`` is the result of both: counts add up, lists merge as above.
    """

    accepted: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    batches: int = 0
    unknown_org_ids: list[str] = field(default_factory=list)

    def __add__(self, other: RecordResult) -> RecordResult:
        return RecordResult(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            conflicts=list(dict.fromkeys([*self.conflicts, *other.conflicts])),
            batches=self.batches + other.batches,
            unknown_org_ids=sorted({*self.unknown_org_ids, *other.unknown_org_ids}),
        )

    def as_dict(self) -> dict[str, Any]:
        """The ingest endpoint's answer: ``accepted``, ``duplicates``, ``conflicts``,
        ``unknownOrgIds``."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": list(self.conflicts),
            "unknownOrgIds": list(self.unknown_org_ids),
        }

    @classmethod
    def from_dict(cls, answer: dict[str, Any]) -> RecordResult:
        """One batch's result from the ingest endpoint's answer (``unknownOrgIds`` may be
        absent: a server older than the field)."""
        return cls(
            accepted=int(answer["accepted"]),
            duplicates=int(answer["duplicates"]),
            conflicts=list(dict.fromkeys(str(conflict) for conflict in answer["conflicts"])),
            batches=1,
            unknown_org_ids=sorted({str(org_id) for org_id in answer.get("unknownOrgIds", [])}),
        )
