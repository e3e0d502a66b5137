"""The ballot plaintext: one byte per contest, parsed strictly (DESIGN.md §4).

Layout for ballot style S of election E:

    byte i (0 <= i < len(S.contests)):  the choice in S's i-th contest
        0x00..0xFD  index of the chosen option in the contest's ballot order
        0xFE        against all (only where the contest has it)
        0xFF        blank: left unmarked
    then 0x00 padding up to E.plaintext_length (the most contests on any style)

The fixed election-wide length means the ciphertext length tells nothing about the
style or the choices. The style itself travels in the card's issue block and the
HPKE `info`, not in the plaintext. Decoding admits exactly one byte string per
ballot: anything else (wrong length, an index past the contest's options, a
reserved value where it is not allowed, non-zero padding) is rejected with a
machine-readable reason, because a lenient parser is how stuffed chip ballots get
counted (Vot.ar, Argentina 2015).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from .definition import Election, ElectionLookupError

AGAINST_ALL_BYTE = 0xFE
BLANK_BYTE = 0xFF
PADDING_BYTE = 0x00


class Mark(enum.Enum):
    """Choices that are not an option id; an Enum so no option id can collide."""

    AGAINST_ALL = "against_all"
    BLANK = "blank"


AGAINST_ALL = Mark.AGAINST_ALL
BLANK = Mark.BLANK

Choice = Union[str, Mark]
#: Contest id -> one choice, or a list of the choices marked (more than one is an
#: overvote and is refused; an empty list is blank). Contests left out are blank.
SelectionsInput = Mapping[str, Union[Choice, Sequence[Choice]]]
#: What `decode_ballot` returns: every contest of the style, in ballot order.
Selections = dict[str, Choice]


class Reason(enum.StrEnum):
    """Why a ballot was refused; stable codes for logs, audit events and tests."""

    UNKNOWN_STYLE = "unknown_style"
    UNKNOWN_CONTEST = "unknown_contest"
    CONTEST_NOT_ON_STYLE = "contest_not_on_style"
    UNKNOWN_OPTION = "unknown_option"
    OVERVOTE = "overvote"
    AGAINST_ALL_NOT_ALLOWED = "against_all_not_allowed"
    WRONG_LENGTH = "wrong_length"
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    NONZERO_PADDING = "nonzero_padding"
    NOT_BYTES = "not_bytes"


class BallotEncodingError(ValueError):
    """A ballot cannot be encoded or decoded; `reason` is a `Reason` code."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ContestPosition:
    """Where a contest sits in a style's plaintext and what its byte may hold."""

    position: int
    contest_id: str
    option_ids: tuple[str, ...]
    against_all: bool


def ballot_positions(election: Election, style_code: int) -> tuple[ContestPosition, ...]:
    """The plaintext layout of a style: for tallying raw bytes without building dicts."""
    contests = _contests(election, style_code)
    return tuple(
        ContestPosition(i, c.id, tuple(o.id for o in election.options(c.id)), c.against_all)
        for i, c in enumerate(contests)
    )


def _contests(election: Election, style_code: int):
    try:
        return election.contests_for_style(style_code)
    except ElectionLookupError:
        raise BallotEncodingError(
            Reason.UNKNOWN_STYLE, f"ballot style {style_code!r} is not in election {election.id}"
        ) from None


def _single_choice(contest_id: str, value: Choice | Sequence[Choice]) -> Choice:
    if isinstance(value, (str, Mark)):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        choices = list(value)
        if len(choices) > 1:
            raise BallotEncodingError(
                Reason.OVERVOTE, f"contest {contest_id!r} takes one choice, got {len(choices)}"
            )
        if not choices:
            return BLANK
        if isinstance(choices[0], (str, Mark)):
            return choices[0]
    raise BallotEncodingError(
        Reason.UNKNOWN_OPTION, f"contest {contest_id!r}: {value!r} is not an option id or mark"
    )


def encode_ballot(election: Election, style_code: int, selections: SelectionsInput) -> bytes:
    """The fixed-length plaintext of a voter's choices on one ballot style."""
    contests = _contests(election, style_code)
    on_style = {c.id for c in contests}
    for contest_id in selections:
        if contest_id not in on_style:
            try:
                election.contest(contest_id)
            except (ElectionLookupError, TypeError):
                raise BallotEncodingError(
                    Reason.UNKNOWN_CONTEST, f"contest {contest_id!r} is not in election {election.id}"
                ) from None
            raise BallotEncodingError(
                Reason.CONTEST_NOT_ON_STYLE,
                f"contest {contest_id!r} is not on ballot style {style_code}",
            )
    out = bytearray()
    for contest in contests:
        choice = _single_choice(contest.id, selections.get(contest.id, BLANK))
        if choice is BLANK:
            out.append(BLANK_BYTE)
        elif choice is AGAINST_ALL:
            if not contest.against_all:
                raise BallotEncodingError(
                    Reason.AGAINST_ALL_NOT_ALLOWED,
                    f"contest {contest.id!r} has no 'against all' under law {election.law}",
                )
            out.append(AGAINST_ALL_BYTE)
        else:
            for option in election.options(contest.id):
                if option.id == choice:
                    out.append(option.index)
                    break
            else:
                raise BallotEncodingError(
                    Reason.UNKNOWN_OPTION, f"contest {contest.id!r} has no option {choice!r}"
                )
    out.extend(bytes([PADDING_BYTE]) * (election.plaintext_length - len(out)))
    return bytes(out)


def decode_ballot(election: Election, style_code: int, data: bytes) -> Selections:
    """Parse a plaintext strictly; every contest of the style appears in the result."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BallotEncodingError(Reason.NOT_BYTES, f"ballot plaintext must be bytes, got {type(data).__name__}")
    data = bytes(data)
    contests = _contests(election, style_code)
    if len(data) != election.plaintext_length:
        raise BallotEncodingError(
            Reason.WRONG_LENGTH,
            f"ballot plaintext is {len(data)} bytes; election {election.id} uses {election.plaintext_length}",
        )
    selections: Selections = {}
    for position, contest in enumerate(contests):
        value = data[position]
        options = election.options(contest.id)
        if value == BLANK_BYTE:
            selections[contest.id] = BLANK
        elif value == AGAINST_ALL_BYTE:
            if not contest.against_all:
                raise BallotEncodingError(
                    Reason.AGAINST_ALL_NOT_ALLOWED,
                    f"byte {position} (contest {contest.id!r}) is 0xFE 'against all', which this contest does not have",
                )
            selections[contest.id] = AGAINST_ALL
        elif value < len(options):
            selections[contest.id] = options[value].id
        else:
            raise BallotEncodingError(
                Reason.INDEX_OUT_OF_RANGE,
                f"byte {position} (contest {contest.id!r}) is {value:#04x}; the contest has {len(options)} options",
            )
    padding = data[len(contests):]
    if padding.strip(bytes([PADDING_BYTE])):
        first = len(contests) + next(i for i, b in enumerate(padding) if b != PADDING_BYTE)
        raise BallotEncodingError(
            Reason.NONZERO_PADDING, f"padding byte {first} is {data[first]:#04x}, must be 0x00"
        )
    return selections
