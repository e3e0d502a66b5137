"""The virtual card's persistent memory (its EEPROM), in memory or in a file.

A real applet makes each state change atomic with a Java Card transaction; this
store does the same with a redo journal, so that after a power cut at any byte
the card holds the old or the new data, never a mix:

1. write the changed byte ranges (segments) into the journal area,
2. set the one-byte commit marker (a single byte write is atomic),
3. apply the segments to the data area,
4. clear the marker.

On power-on `recover()` re-applies a committed journal (idempotent) and ignores
an uncommitted one. Writes are counted byte by byte; arming `tear_after_bytes`
cuts the power after that many more bytes (the torn chunk is partly written)
and raises `TornWrite`. The file-backed store writes in place and fsyncs at the
commit points, so a crashed process also leaves old-or-new behind.

Image layout (712 bytes), format 2 (protocol v2 added the counter):

    0   magic "SLU" 02       4
    4   state                1   00 BLANK, 01 ISSUED, 02 VOTED
    5   serial               8
    13  counter              3   state changes so far (big-endian)
    16  card key            16   diversified at personalisation
    32  issue length         1   0 = absent
    33  issue block         64   zero-padded
    97  record length        1   0 = absent
    98  record             255   zero-padded
    353 journal marker       1   C3 = committed
    354 segment count        1
    355 segments             ..  offset(2) length(2) bytes, big-endian

The counter is in the data area, so it changes in the same journaled update
as the state it counts: after a power cut the card shows the old state with
the old counter or the new state with the new counter.

`journaled = False` is a deliberate defect for the conformance kit (`sailau
card serve --defect no-journal`): changes are written in place, so a power cut
can leave a mix.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from sailau.smartcard.apdu import (
    COUNTER_LENGTH,
    MAX_COUNTER,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    SERIAL_LENGTH,
    CardState,
    data_file,
)

MAGIC = b"SLU\x02"
MAGIC_V1 = b"SLU\x01"
CARD_KEY_LENGTH = 16

_STATE = 4
_SERIAL = 5
_COUNTER = _SERIAL + SERIAL_LENGTH
_KEY = _COUNTER + COUNTER_LENGTH
_ISSUE_LEN = _KEY + CARD_KEY_LENGTH
_ISSUE = _ISSUE_LEN + 1
_RECORD_LEN = _ISSUE + MAX_ISSUE_BLOCK
_RECORD = _RECORD_LEN + 1
DATA_SIZE = _RECORD + MAX_RECORD

_MARKER = DATA_SIZE
_COUNT = _MARKER + 1
_SEGMENTS = _COUNT + 1
_SEGMENT_HEADER = 4
JOURNAL_CAPACITY = 2 + _SEGMENT_HEADER + DATA_SIZE
IMAGE_SIZE = DATA_SIZE + JOURNAL_CAPACITY

COMMITTED = 0xC3
NOT_COMMITTED = 0x00


class TornWrite(Exception):
    """The power was cut during a persistent write (the tearing switch fired)."""


class CorruptImageError(ValueError):
    """The stored image is not a valid card image (wrong size, magic or fields)."""


@dataclass(frozen=True)
class CardImage:
    """The card's persistent data, decoded."""

    state: CardState
    serial: bytes
    card_key: bytes
    issue_block: bytes | None = None
    record: bytes | None = None
    counter: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"counter must be 0..{MAX_COUNTER}, got {self.counter}")
        if len(self.serial) != SERIAL_LENGTH:
            raise ValueError(f"serial must be {SERIAL_LENGTH} bytes, got {len(self.serial)}")
        if len(self.card_key) != CARD_KEY_LENGTH:
            raise ValueError(f"card key must be {CARD_KEY_LENGTH} bytes, got {len(self.card_key)}")
        if self.issue_block is not None and not 1 <= len(self.issue_block) <= MAX_ISSUE_BLOCK:
            raise ValueError(f"issue block must be 1..{MAX_ISSUE_BLOCK} bytes")
        if self.record is not None and not 1 <= len(self.record) <= MAX_RECORD:
            raise ValueError(f"record must be 1..{MAX_RECORD} bytes")

    def data_file(self) -> bytes:
        """The file READ BINARY reads: len(issue) ‖ issue ‖ len(record) ‖ record."""
        return data_file(self.issue_block, self.record)

    def encode(self) -> bytes:
        """The data area of the image (DATA_SIZE bytes)."""
        issue = self.issue_block or b""
        record = self.record or b""
        out = (
            MAGIC
            + bytes((self.state,))
            + self.serial
            + self.counter.to_bytes(COUNTER_LENGTH, "big")
            + self.card_key
            + bytes((len(issue),))
            + issue.ljust(MAX_ISSUE_BLOCK, b"\0")
            + bytes((len(record),))
            + record.ljust(MAX_RECORD, b"\0")
        )
        assert len(out) == DATA_SIZE
        return out

    @classmethod
    def decode(cls, data: bytes) -> CardImage:
        if len(data) != DATA_SIZE:
            raise CorruptImageError(f"data area is {len(data)} bytes, expected {DATA_SIZE}")
        if data[:4] == MAGIC_V1:
            raise CorruptImageError("a card image of protocol v1 (format 1): v2 cards keep a counter; make a new card")
        if data[:4] != MAGIC:
            raise CorruptImageError(f"bad magic {data[:4].hex()}: not a Sailau card image")
        try:
            state = CardState(data[_STATE])
        except ValueError:
            raise CorruptImageError(f"unknown card state byte {data[_STATE]:02X}") from None
        issue_len, record_len = data[_ISSUE_LEN], data[_RECORD_LEN]
        if issue_len > MAX_ISSUE_BLOCK:
            raise CorruptImageError(f"issue length {issue_len} exceeds {MAX_ISSUE_BLOCK}")
        return cls(
            state=state,
            serial=data[_SERIAL:_COUNTER],
            counter=int.from_bytes(data[_COUNTER:_KEY], "big"),
            card_key=data[_KEY:_ISSUE_LEN],
            issue_block=data[_ISSUE : _ISSUE + issue_len] or None,
            record=data[_RECORD : _RECORD + record_len] or None,
        )


_CHANGED_RUN = re.compile(rb"[^\x00](?:\x00{0,%d}[^\x00])*" % _SEGMENT_HEADER, re.S)


def _segments(old: bytes, new: bytes) -> list[tuple[int, bytes]]:
    """The byte ranges where `new` differs from `old`; runs closer than a segment
    header are merged (cheaper to rewrite the gap than to open a new segment).
    The differing bytes are the non-zero bytes of old XOR new, found in C (the
    regex) rather than byte by byte in Python: a CLEAR is on the cast path."""
    if len(old) != len(new):
        raise ValueError(f"images of {len(old)} and {len(new)} bytes cannot be compared")
    diff = (int.from_bytes(old, "big") ^ int.from_bytes(new, "big")).to_bytes(len(old), "big")
    runs = [(m.start(), m.end()) for m in _CHANGED_RUN.finditer(diff)]
    segments = [(start, new[start:end]) for start, end in runs]
    size = 2 + sum(_SEGMENT_HEADER + len(data) for _, data in segments)
    if size > JOURNAL_CAPACITY or len(segments) > 255:
        start, end = runs[0][0], runs[-1][1]
        segments = [(start, new[start:end])]
    return segments


def _encode_journal(segments: list[tuple[int, bytes]]) -> bytes:
    out = bytearray((len(segments),))
    for offset, data in segments:
        out += offset.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    return bytes(out)


class CardStore(ABC):
    """Journaled persistent memory; subclasses provide raw byte access."""

    def __init__(self) -> None:
        self.bytes_written = 0
        """Lifetime count of persistent bytes written (journal, data and marker)."""
        self._tear_after: int | None = None
        self._written_since_armed = 0
        self.journaled = True
        """False only for the `no-journal` defect: `save` writes changes in place."""
        self.tear_after_commit = False
        """One-shot switch: cut the power right after the next commit marker is
        durable (journal committed, data area not yet updated). Unlike
        `tear_after_bytes` it does not depend on how many bytes the journal of a
        particular change holds, which varies with the data (segments are the
        changed byte ranges)."""

    # -- raw access, per backend ---------------------------------------
    @abstractmethod
    def _read(self, offset: int, length: int) -> bytes: ...

    @abstractmethod
    def _write_raw(self, offset: int, data: bytes) -> None: ...

    @abstractmethod
    def _create(self, image: bytes) -> None: ...

    @abstractmethod
    def is_formatted(self) -> bool: ...

    def _sync(self) -> None:
        """Make the writes so far durable (a commit point)."""

    def close(self) -> None:
        """Release the backing resource (file descriptor)."""

    # -- tearing -------------------------------------------------------
    @property
    def tear_after_bytes(self) -> int | None:
        """Armed: the power is cut after this many more persistent bytes are
        written. One shot: it disarms when it fires."""
        return self._tear_after

    @tear_after_bytes.setter
    def tear_after_bytes(self, value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"tear_after_bytes must be >= 0 or None, got {value}")
        self._tear_after = value
        self._written_since_armed = 0

    def _write(self, offset: int, data: bytes) -> None:
        """Write persistently, honouring the tearing switch."""
        if self._tear_after is not None:
            room = self._tear_after - self._written_since_armed
            if len(data) > room:
                if room > 0:
                    self._write_raw(offset, data[:room])
                    self.bytes_written += room
                self._tear_after = None
                raise TornWrite(
                    f"power cut after {self._written_since_armed + room} persistent bytes"
                )
            self._written_since_armed += len(data)
        self._write_raw(offset, data)
        self.bytes_written += len(data)

    # -- image ---------------------------------------------------------
    def format(self, image: CardImage) -> None:
        """Personalisation: write a whole fresh image (not journaled, not tearable;
        the file-backed store writes it to a temporary file and renames it)."""
        if self.is_formatted():
            raise ValueError("the store already holds a card image")
        journal = bytes((NOT_COMMITTED,)) + bytes(JOURNAL_CAPACITY - 1)
        self._create(image.encode() + journal)

    def load(self) -> CardImage:
        """The data area as stored now (call `recover()` first after power-on)."""
        return CardImage.decode(self._read(0, DATA_SIZE))

    def peek(self) -> CardImage:
        """What the card will hold after recovery, without writing anything (for
        inspecting an unpowered card)."""
        data = bytearray(self._read(0, DATA_SIZE))
        for offset, chunk in self._committed_segments() or []:
            data[offset : offset + len(chunk)] = chunk
        return CardImage.decode(bytes(data))

    def save(self, image: CardImage) -> None:
        """Atomically replace the stored image with `image`."""
        old = self._read(0, DATA_SIZE)
        new = image.encode()
        if old == new:
            return
        segments = _segments(old, new)
        if not self.journaled:
            self._apply(segments)
            self._sync()
            return
        self._write(_COUNT, _encode_journal(segments))
        self._sync()
        self._write(_MARKER, bytes((COMMITTED,)))
        self._sync()
        if self.tear_after_commit:
            self.tear_after_commit = False
            raise TornWrite("power cut right after the commit marker")
        self._apply(segments)
        self._sync()
        self._write(_MARKER, bytes((NOT_COMMITTED,)))
        self._sync()

    def recover(self) -> bool:
        """Finish a committed journal (True) or ignore an uncommitted one (False)."""
        segments = self._committed_segments()
        if segments is None:
            return False
        self._apply(segments)
        self._sync()
        self._write(_MARKER, bytes((NOT_COMMITTED,)))
        self._sync()
        return True

    def _apply(self, segments: list[tuple[int, bytes]]) -> None:
        for offset, data in segments:
            self._write(offset, data)

    def _committed_segments(self) -> list[tuple[int, bytes]] | None:
        if self._read(_MARKER, 1)[0] != COMMITTED:
            return None
        journal = self._read(_COUNT, JOURNAL_CAPACITY - 1)
        count, pos, segments = journal[0], 1, []
        for _ in range(count):
            offset = int.from_bytes(journal[pos : pos + 2], "big")
            length = int.from_bytes(journal[pos + 2 : pos + 4], "big")
            pos += _SEGMENT_HEADER
            if offset + length > DATA_SIZE or pos + length > len(journal):
                raise CorruptImageError(f"committed journal segment {offset}+{length} is out of range")
            segments.append((offset, journal[pos : pos + length]))
            pos += length
        return segments


class MemoryStore(CardStore):
    """The image in a bytearray: fast, for tests and one-process simulations."""

    def __init__(self, image: bytes | None = None) -> None:
        """An empty (unformatted) store, or one holding a copy of `image` (a
        whole EEPROM image, e.g. from `raw_image()`)."""
        super().__init__()
        if image is not None and len(image) != IMAGE_SIZE:
            raise CorruptImageError(f"image is {len(image)} bytes; a card image is {IMAGE_SIZE} bytes")
        self._image: bytearray | None = None if image is None else bytearray(image)

    def is_formatted(self) -> bool:
        return self._image is not None

    def _create(self, image: bytes) -> None:
        self._image = bytearray(image)

    def _read(self, offset: int, length: int) -> bytes:
        assert self._image is not None, "store not formatted"
        return bytes(self._image[offset : offset + length])

    def _write_raw(self, offset: int, data: bytes) -> None:
        assert self._image is not None, "store not formatted"
        self._image[offset : offset + len(data)] = data

    def raw_image(self) -> bytes:
        """A copy of the whole EEPROM image (for tests)."""
        assert self._image is not None, "store not formatted"
        return bytes(self._image)


class FileStore(CardStore):
    """The image in a file, written in place, fsynced at the commit points, so a
    card can be carried between processes and survives a crashed process."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None
        if self.path.exists():
            size = self.path.stat().st_size
            if size != IMAGE_SIZE:
                raise CorruptImageError(
                    f"{self.path} is {size} bytes; a card image is {IMAGE_SIZE} bytes"
                )

    def is_formatted(self) -> bool:
        return self.path.exists()

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    def _create(self, image: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(image)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)
        if self.fsync:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _read(self, offset: int, length: int) -> bytes:
        return os.pread(self._open(), length, offset)

    def _write_raw(self, offset: int, data: bytes) -> None:
        written = os.pwrite(self._open(), data, offset)
        if written != len(data):
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")

    def _sync(self) -> None:
        if self.fsync:
            os.fsync(self._open())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()
