"""Card I/O errors. A card can be pulled at any moment, so every host-side card
operation may raise one of these, and callers must decide what it means."""

from __future__ import annotations


class CardError(Exception):
    """Base of every error talking to a ballot card."""


class ReaderNotFoundError(CardError):
    """The named reader is not attached (or pcscd is not running)."""


class NoCardError(CardError):
    """No card is in the reader."""


class CardRemovedError(CardError):
    """The card was removed (or lost power) during an operation; its outcome on
    the card is unknown until it is read again."""


class TransportError(CardError):
    """The reader or PC/SC stack failed for another reason."""


class MalformedResponseError(CardError):
    """The card answered with bytes that are not a valid response."""


class CardVersionError(CardError):
    """The card runs another version of the ballot card application (a v1 card
    answers its own AID, not v2's): refused by name, nothing is written to it."""

    def __init__(self, version: int, wanted: int) -> None:
        self.version = version
        self.wanted = wanted
        super().__init__(
            f"this is a ballot card of protocol v{version}; this equipment speaks v{wanted} only. "
            f"Nothing was written to it: set it aside and use a v{wanted} card"
        )


class WriteMismatchError(CardError):
    """WRITE BALLOT answered 9000 but its digest of what the card stored differs
    from the record written (a wrong write, or a card that lies): the card must
    not be trusted with this ballot."""


class NotSelectedError(CardError):
    """The card's status is asked for, or a privileged command is built, before
    SELECT answered with it on this connection."""


class StatusWordError(CardError):
    """The card answered with a status word other than 9000."""

    sw: int = 0
    label = "unexpected status word"

    def __init__(self, sw: int, command: str = "") -> None:
        self.sw = sw
        self.command = command
        where = f" to {command}" if command else ""
        super().__init__(f"card answered {sw:04X} ({self.label}){where}")


class WrongLengthError(StatusWordError):
    label = "wrong length"


class SecurityStatusNotSatisfiedError(StatusWordError):
    label = "security status not satisfied"


class ConditionsNotSatisfiedError(StatusWordError):
    label = "conditions of use not satisfied (wrong card state)"


class FileNotFoundOnCardError(StatusWordError):
    label = "application or file not found"


class WrongP1P2Error(StatusWordError):
    label = "wrong P1/P2"


class OffsetOutOfRangeError(StatusWordError):
    label = "offset out of range"


class InstructionNotSupportedError(StatusWordError):
    label = "instruction not supported"


class ClassNotSupportedError(StatusWordError):
    label = "class not supported"


_BY_SW: dict[int, type[StatusWordError]] = {
    0x6700: WrongLengthError,
    0x6982: SecurityStatusNotSatisfiedError,
    0x6985: ConditionsNotSatisfiedError,
    0x6A82: FileNotFoundOnCardError,
    0x6A86: WrongP1P2Error,
    0x6B00: OffsetOutOfRangeError,
    0x6D00: InstructionNotSupportedError,
    0x6E00: ClassNotSupportedError,
}


def status_word_error(sw: int, command: str = "") -> StatusWordError:
    """The exception for a non-9000 status word, by its ISO 7816-4 meaning."""
    return _BY_SW.get(sw, StatusWordError)(sw, command)
