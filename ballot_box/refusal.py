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
  and the card checks above;
* the count at close: NOT_A_MEMBER (hand count entry, co-signing on the station),
  HAND_COUNT_MISSING and HAND_COUNT_MISMATCH (close of polls where paper was used).
* paper ballots, the additional list, the mobile box (`PAPER_REFUSALS`, raised as
  `Refused`): check-in gives MOBILE_REQUESTED, VOTED_OUTSIDE, NO_PAPER_LEFT; an
  exchange NO_PAPER_BALLOT, NO_PAPER_LEFT; adding a voter ALREADY_ON_LIST; a request
  ALREADY_VOTED, ALREADY_REQUESTED; withdraw REQUEST_NOT_PENDING; sending a team
  REQUEST_NOT_PENDING, NO_REQUESTS, TOO_FEW_BALLOTS, NO_PAPER_LEFT; its return
  UNKNOWN_TRIP, TRIP_RETURNED, NOT_ON_TRIP, MOBILE_COUNTS_MISMATCH.

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

__all__ = ["CARD_REFUSALS", "PAPER_REFUSALS", "Refusal", "Refused", "for_mismatch"]


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
    # the count at close (handcount.py, close.py)
    NOT_A_MEMBER = "not_a_member"  # a hand count entered (or a co-signature made) by a key that is no station member
    HAND_COUNT_MISSING = "hand_count_missing"  # paper was used: two members must enter the hand count before signing
    HAND_COUNT_MISMATCH = "hand_count_mismatch"  # the members' entries differ: the differing lines are shown
    # paper ballots, the additional list, the mobile ballot box (pollbook.py, paper.py, mobile.py)
    ALREADY_VOTED = "already_voted"  # a request to vote outside for a voter who received a ballot
    MOBILE_REQUESTED = "mobile_requested"  # check-in of a voter whose request is pending or with a team
    VOTED_OUTSIDE = "voted_outside"  # check-in of a voter the mobile team marked as having voted outside
    NO_PAPER_LEFT = "no_paper_left"  # no paper ballot left at the table (issue, exchange, a team's ballots)
    MOBILE_COUNTS_MISMATCH = "mobile_counts_mismatch"  # a team's voted + unused + spoiled != ballots taken
    ALREADY_ON_LIST = "already_on_list"  # the additional list: this IIN is on the list already
    NO_PAPER_BALLOT = "no_paper_ballot"  # exchange for a voter who was not given a paper ballot
    ALREADY_REQUESTED = "already_requested"  # a second open request for one voter
    REQUEST_NOT_PENDING = "request_not_pending"  # withdraw or send a request that is not pending
    NO_REQUESTS = "no_requests"  # a team sent with no pending request to carry
    TOO_FEW_BALLOTS = "too_few_ballots"  # a team takes fewer ballots than the requests it carries
    UNKNOWN_TRIP = "unknown_trip"  # no such mobile team trip
    TRIP_RETURNED = "trip_returned"  # this trip came back already
    NOT_ON_TRIP = "not_on_trip"  # marked as voted outside, but not on the returning team's list


#: the refusals a cast or a cancel result (and so the card note at the table) can carry
CARD_REFUSALS: frozenset[Refusal] = frozenset({
    Refusal.WRONG_ELECTION, Refusal.WRONG_PRECINCT, Refusal.MALFORMED_RECORD, Refusal.UNKNOWN_TERMINAL,
    Refusal.BAD_SIGNATURE, Refusal.CARD_NOT_VOTED, Refusal.CARD_NOT_ISSUED, Refusal.CARD_REMOVED,
    Refusal.UNKNOWN_TOKEN, Refusal.ALREADY_COUNTED, Refusal.CARD_CANCELLED, Refusal.CARD_REVOKED,
})

#: the refusals of the paper, additional-list and mobile-box steps: each raises `Refused`, and
#: the clerk reads the catalogue's ``refused.<value>`` text (messages.py)
PAPER_REFUSALS: tuple[Refusal, ...] = (
    Refusal.ALREADY_VOTED, Refusal.MOBILE_REQUESTED, Refusal.VOTED_OUTSIDE, Refusal.NO_PAPER_LEFT,
    Refusal.MOBILE_COUNTS_MISMATCH, Refusal.ALREADY_ON_LIST, Refusal.NO_PAPER_BALLOT, Refusal.ALREADY_REQUESTED,
    Refusal.REQUEST_NOT_PENDING, Refusal.NO_REQUESTS, Refusal.TOO_FEW_BALLOTS, Refusal.UNKNOWN_TRIP,
    Refusal.TRIP_RETURNED, Refusal.NOT_ON_TRIP,
)


class Refused(Exception):
    """A paper, additional-list or mobile-box step was refused (one of `PAPER_REFUSALS`):
    nothing was changed, and the refusal was chained in the audit log. ``str()`` is the
    catalogue's English text (for the command line and logs; it names no voter)."""

    def __init__(self, reason: Refusal) -> None:
        from .messages import text_of  # the one catalogue; imported late (it imports no refusal)

        self.reason = Refusal(reason)
        super().__init__(text_of(f"refused.{self.reason.value}"))


_FOR_MISMATCH = {
    Mismatch.WRONG_ELECTION: Refusal.WRONG_ELECTION,
    Mismatch.WRONG_PRECINCT: Refusal.WRONG_PRECINCT,
    Mismatch.WRONG_STYLE: Refusal.WRONG_PRECINCT,  # see the module doc: one style per precinct
}


def for_mismatch(mismatch: Mismatch | None) -> Refusal | None:
    """The station's refusal for a card that is not this precinct's (None: it is)."""
    return None if mismatch is None else _FOR_MISMATCH[mismatch]
