"""Why the station refused something: the one vocabulary of the ballot box.

`Refusal` names every refusal of the station's protocol steps (issue, cast,
cancel, replace) and of the audit log's ``card_rejected``, ``issue_refused`` and
``replacement_refused`` events: the station returns it (``reason`` of a cast or
cancel result, `ReplacementRefused.reason`), the store returns it beside the
success members of its outcome enums, the audit chain records its value, the
clerk's message catalogue is keyed by its value.

Invariant: a value is never renamed or reused for another meaning. The values
stand in audit logs on disk (``reason`` of the events above) and an audit log
written by an older station must still read the same. A new refusal is a new
value.

Which step gives which refusal:

* card checks, in every step that reads a card (cast, cancel, replace's
  handed-back card): WRONG_ELECTION, WRONG_PRECINCT (`for_mismatch`),
  MALFORMED_RECORD, CARD_REMOVED (pulled while read or written: nothing recorded);
* cast: UNKNOWN_TERMINAL, BAD_SIGNATURE, CARD_NOT_VOTED, UNKNOWN_TOKEN,
  CARD_CANCELLED, CARD_REVOKED (the card is kept, not cleared);
* cancel: CARD_NOT_ISSUED, UNKNOWN_TOKEN, ALREADY_COUNTED, CARD_REVOKED;
* issue: NOT_CHECKED_IN, UNKNOWN_VOTER, CARD_ALREADY_ISSUED, CARD_REMOVED;
* replace: NOT_CHECKED_IN, UNKNOWN_VOTER, NO_CARD_TO_REPLACE, ALREADY_COUNTED
  (the voter's card is counted), CARD_REVOKED, UNKNOWN_TOKEN (the handed-back
  card was never issued here), NOT_THEIR_CARD, CARD_UNLINKED, CARD_NOT_ISSUED,
  and the card checks above.

Wrong style. Whether a card belongs here is one rule,
`sailau.election.styles.card_mismatch`, which the booth and the close of polls
ask too. It names a style mismatch WRONG_STYLE, and the booth tells the voter
so. The station refuses such a card as WRONG_PRECINCT (`for_mismatch` is the one
place that maps it): a precinct has exactly one ballot style, so a card of this
precinct with another style is not this precinct's ballot, and the audit logs on
disk have always recorded it as ``wrong_precinct``.

A cast of a card counted before is not a refusal of the cast (the card is only
cleared, `CastStatus.ALREADY_COUNTED`), but the audit chain records it as a
``card_rejected`` event with reason ALREADY_COUNTED, as it always has.
"""

from __future__ import annotations

from enum import Enum

from sailau.election.styles import Mismatch

__all__ = ["CARD_REFUSALS", "Refusal", "for_mismatch"]


class Refusal(str, Enum):
    """A stable refusal code (see the module doc for the steps that give each)."""

    # the card's issue block (election.styles.card_mismatch, for_mismatch)
    WRONG_ELECTION = "wrong_election"
    WRONG_PRECINCT = "wrong_precinct"  # also: this precinct, another ballot style
    # the card's content
    MALFORMED_RECORD = "malformed_record"
    UNKNOWN_TERMINAL = "unknown_terminal"
    BAD_SIGNATURE = "bad_signature"
    # the card's state
    CARD_NOT_VOTED = "card_not_voted"  # cast needs a VOTED card
    CARD_NOT_ISSUED = "card_not_issued"  # cancel, or a handed-back card, needs an ISSUED card
    CARD_REMOVED = "card_removed"  # pulled while read or written: nothing recorded
    # the card's token, as the station recorded it
    UNKNOWN_TOKEN = "unknown_token"  # never issued here
    ALREADY_COUNTED = "already_counted"  # its ballot is in the box
    CARD_CANCELLED = "card_cancelled"  # cancelled: cannot be cast
    CARD_REVOKED = "card_revoked"  # replaced without being handed back: refused, not cleared, kept
    # the voter (issue, replace)
    UNKNOWN_VOTER = "unknown_voter"
    NOT_CHECKED_IN = "not_checked_in"
    CARD_ALREADY_ISSUED = "card_already_issued"  # the voter holds a card: a second one only by replacing it
    NO_CARD_TO_REPLACE = "no_card_to_replace"  # the voter holds no issued card
    NOT_THEIR_CARD = "not_their_card"  # the handed-back card is not the one this voter holds
    CARD_UNLINKED = "card_unlinked"  # the voter's card cannot be named: only with the card in hand


#: the refusals a cast or a cancel result (and so the card note at the table) can carry
CARD_REFUSALS: frozenset[Refusal] = frozenset({
    Refusal.WRONG_ELECTION, Refusal.WRONG_PRECINCT, Refusal.MALFORMED_RECORD, Refusal.UNKNOWN_TERMINAL,
    Refusal.BAD_SIGNATURE, Refusal.CARD_NOT_VOTED, Refusal.CARD_NOT_ISSUED, Refusal.CARD_REMOVED,
    Refusal.UNKNOWN_TOKEN, Refusal.ALREADY_COUNTED, Refusal.CARD_CANCELLED, Refusal.CARD_REVOKED,
})

_FOR_MISMATCH = {
    Mismatch.WRONG_ELECTION: Refusal.WRONG_ELECTION,
    Mismatch.WRONG_PRECINCT: Refusal.WRONG_PRECINCT,
    Mismatch.WRONG_STYLE: Refusal.WRONG_PRECINCT,  # see the module doc: one style per precinct
}


def for_mismatch(mismatch: Mismatch | None) -> Refusal | None:
    """The station's refusal for a card that is not this precinct's (None: it is)."""
    return None if mismatch is None else _FOR_MISMATCH[mismatch]
