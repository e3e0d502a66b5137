"""One refusal vocabulary (ballot_box/refusal.py): its values are in audit logs on disk,
so they are pinned here; no other enum of the station spells a refusal again."""

from __future__ import annotations

from sailau.ballot_box import results, station, store
from sailau.ballot_box.refusal import CARD_REFUSALS, PAPER_REFUSALS, Refusal

#: every value an audit log on disk may hold in a refusal's ``reason`` (never rename one)
ON_DISK = {
    "wrong_election", "wrong_precinct", "malformed_record", "unknown_terminal", "bad_signature",
    "card_not_voted", "card_not_issued", "card_removed", "unknown_token", "already_counted",
    "card_cancelled", "card_revoked", "unknown_voter", "not_checked_in", "card_already_issued",
    "no_card_to_replace", "not_their_card", "card_unlinked",
    "not_a_member", "hand_count_missing", "hand_count_mismatch",  # issue 13: the count at close
    # issue 13: paper ballots, the additional list, the mobile box
    "already_voted", "mobile_requested", "voted_outside", "no_paper_left", "mobile_counts_mismatch",
    "already_on_list", "no_paper_ballot", "already_requested", "request_not_pending", "no_requests",
    "too_few_ballots", "unknown_trip", "trip_returned", "not_on_trip",
}


def test_the_values_in_audit_logs_stay() -> None:
    assert {r.value for r in Refusal} == ON_DISK
    assert CARD_REFUSALS < set(Refusal)
    assert not CARD_REFUSALS & set(PAPER_REFUSALS)


def test_the_store_outcomes_keep_only_their_success_members() -> None:
    refusals = {r.value for r in Refusal}
    assert {o.value for o in store.IssueOutcome} == {"issued"}
    assert {o.value for o in store.ReplaceOutcome} == {"replaced", "replaced_revoked"}
    assert {o.value for o in store.CancelOutcome} == {"cancelled", "already_cancelled"}
    # a cast of a counted card is no refusal of the cast (the card is cleared), though
    # the audit chain records it as card_rejected/already_counted, as it always has
    assert {o.value for o in store.CastRecorded} & refusals == {"already_counted"}
    for status in (results.CastStatus, results.CancelStatus):
        assert {s.value for s in status} & refusals <= {"already_counted"}


def test_the_facade_names_every_result_type() -> None:
    for name in results.__all__:
        assert getattr(station, name) is getattr(results, name)
    assert not hasattr(station, "Reason")  # one name: the compatibility alias is gone
