"""Events read once and kept for a second pass: what ``creditmeter ingest`` validated.

The file import checks every line before it stores anything, then imports the
events. Reading a line (decoding, every rule, the timestamp) is most of what the
import costs in Python, so the validation pass keeps what it read here and the
import pass takes it back instead of reading the file again; it also imports
exactly the events that were checked, even if the file changes in between.

Each event is kept as the tuple of its fields, packed with msgpack a chunk at a
time (about 70 bytes an event in the bench's workload, against about 160 for the
JSON line). Chunks stay in memory up to ``memory_bytes``; beyond that they are
written to an anonymous temporary file (in ``tempfile``'s directory: ``TMPDIR``),
removed when the spool is closed. Memory stays bounded however large the file:
the bound, one chunk being packed, one being read back.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from itertools import starmap
from operator import attrgetter
from types import TracebackType
from typing import IO, Any

import msgspec

from creditmeter.errors import Unavailable
from creditmeter.events import Event

#: Packed chunks kept in memory before the rest goes to a temporary file.
MEMORY_BYTES = 8 * 1024 * 1024
#: Events packed together (the unit kept in memory or written to the file).
CHUNK_EVENTS = 10_000

_FIELDS = tuple(field.name for field in dataclasses.fields(Event))
_fields_of = attrgetter(*_FIELDS)
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[tuple[Any, ...]])


class EventSpool:
    """Events in the order they were added, read back as often as needed.

    Use it as a context manager (or call :meth:`close`): the temporary file, if
    one was needed, is removed on leaving.
    """

    def __init__(self, *, memory_bytes: int | None = None, chunk_events: int | None = None) -> None:
        # The module's bounds by default, read now (a test may lower them).
        self._memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes
        self._chunk_events = CHUNK_EVENTS if chunk_events is None else chunk_events
        self._pending: list[tuple[Any, ...]] = []
        #: Packed chunks in memory: the first ones added.
        self._chunks: list[bytes] = []
        self._in_memory = 0
        #: The temporary file and the size of each chunk in it, in order.
        self._file: IO[bytes] | None = None
        self._spilled: list[int] = []
        self._count = 0

    def add(self, event: Event) -> None:
        """Keep ``event`` (its fields as they are now)."""
        pending = self._pending
        pending.append(_fields_of(event))
        if len(pending) >= self._chunk_events:
            self._pack()

    def __len__(self) -> int:
        return self._count + len(self._pending)

    @property
    def spilled_bytes(self) -> int:
        """Bytes written to the temporary file (0 while everything fits in memory)."""
        return sum(self._spilled)

    def __iter__(self) -> Iterator[Event]:
        """Every event added, in order, as new :class:`Event` objects."""
        self._pack()
        for chunk in self._chunks:
            yield from _unpack(chunk)
        if self._file is None:
            return
        self._file.seek(0)
        for size in self._spilled:
            yield from _unpack(self._file.read(size))

    def close(self) -> None:
        self._pending = []
        self._chunks = []
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _pack(self) -> None:
        if not self._pending:
            return
        chunk = _ENCODER.encode(self._pending)
        self._count += len(self._pending)
        self._pending = []
        if self._file is None and self._in_memory + len(chunk) <= self._memory_bytes:
            self._chunks.append(chunk)
            self._in_memory += len(chunk)
            return
        try:
            if self._file is None:
                # Lives as long as the spool: close() closes (and so removes) it.
                self._file = tempfile.TemporaryFile(prefix="creditmeter-events-")  # noqa: SIM115
            self._file.seek(0, 2)  # reading back may have moved it
            self._file.write(chunk)
            self._file.flush()  # a full disk is found here, not when reading back
        except OSError as exc:
            raise Unavailable(
                f"Could not keep the events read in a temporary file in "
                f"{tempfile.gettempdir()} ({exc.strerror or exc}): make room there, or set "
                "TMPDIR to a writable directory with room (about 70 bytes an event)."
            ) from None
        self._spilled.append(len(chunk))


def _unpack(chunk: bytes) -> Iterator[Event]:
    return starmap(Event, _DECODER.decode(chunk))
