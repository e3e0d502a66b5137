"""The clerk's message catalogue: every note the clerk app shows, by a stable code.

A `Note` is data, never a pre-rendered string: a code from `TEXTS`, the fields its
text needs, a severity (which picks the colour), an optional cause (a second code,
its own sentence) and an optional detail (our own service's explanation, shown as
is). `Note.render(t)` looks the code up and translates it through the ballot box's
gettext domain (`i18n.py`: kk, ru, en), so a language switch redraws every note.

Codes are the values of the station's own vocabularies wherever one exists, with
the context in front, so the same refusal reads right where it happens:

- ``card.<reason>``: a card refused at cast or cancel (`refusal.Refusal` values:
  ``card.wrong_election``, ``card.card_revoked``, ...);
- ``replace.<reason>``: a replacement refused (`store.ReplaceOutcome` and
  `refusal.Refusal` values: ``replace.not_their_card``, ``replace.card_removed``, ...);
- ``cast.<status>.<clear>``, ``cancel.<status>.<clear>``: a card handled, and how the
  CLEAR after it went (`CastStatus`, `CancelStatus`, `ClearOutcome` values);
- ``storage.<operation>.<recorded>`` and ``cause.<problem>``: what a storage failure
  did (`StationOperation`, `Recorded`, `StorageProblem` values);
- ``share.<refusal>``: a share refused at entry (`close.ShareRefusal` values);
- ``hand_count.<refusal>``, ``hand_count.<state>``: the hand count's double entry
  (`refusal.Refusal` values ``not_a_member``, ``hand_count_missing``,
  ``hand_count_mismatch``; ``entered``, ``agreed``), ``cosign.<outcome>``: a member's
  co-signature on the station;
- ``send.<outcome>``: a signed file sent to the commission (`submit.Outcome`
  values: ``send.accepted``, ``send.refused`` with the refusal name as ``reason``...);
- plain names for the rest (``checked_in``, ``need_voter``, ``unexpected.card``...).

This module is the one source of the clerk's texts: the station's English
``message`` strings are for logs and the command line, the app never shows them.
Which code each outcome gets is decided in `desk.py`; a test walks every outcome
the desk can produce and checks its code has a text here in all three languages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .i18n import N_

__all__ = ["SEVERITIES", "TEXTS", "Note", "Translate", "text_of"]

Translate = Callable[..., str]  # (msgid, **fields) -> text in the current language

SEVERITIES = ("info", "ok", "warn", "error")

_PULLED = N_("The card was pulled out during the operation. Nothing was recorded: insert it again.")

#: code -> message id (the English text; the .po files translate it)
TEXTS: dict[str, str] = {
    # -- a card refused at cast or cancel, by refusal.Refusal -------------------------------------
    "card.wrong_election": N_("This card belongs to another election. It was not counted and not changed."),
    "card.wrong_precinct": N_("This card was issued for another polling station. It was not counted and not changed."),
    "card.unknown_token": N_("This card was not issued at this polling station. It was not counted and not changed."),
    "card.card_cancelled": N_("This card was cancelled here and cannot be cast. It was not counted and not changed."),
    "card.card_revoked": N_("Revoked: this card was replaced, so it cannot be used. It was not counted and not "
                            "changed: keep it for the commission, do not give it back."),
    "card.unknown_terminal": N_("The ballot was written by a voting terminal not enrolled here. Not counted, card "
                                "not changed."),
    "card.bad_signature": N_("The ballot on this card fails its terminal signature (altered or copied). Not counted, "
                             "card not changed."),
    "card.malformed_record": N_("The data on this card is not a valid ballot. It was not counted and not changed."),
    "card.card_not_voted": N_("This card holds no ballot to cast."),
    "card.card_not_issued": N_("Only an issued, unused card can be cancelled."),
    "card.card_removed": N_("The card was removed while being read. Nothing was recorded: insert it again."),
    "card.already_counted": N_("This card's ballot is already counted; it cannot be cancelled."),
    # -- a replacement refused, by store.ReplaceOutcome / refusal.Refusal --------------------------
    "replace.no_card_to_replace": N_("Not replaced: this voter holds no issued card (none yet, or already replaced)."),
    "replace.not_checked_in": N_("Not replaced: this voter is not checked in."),
    "replace.unknown_voter": N_("This voter is not on this precinct's list."),
    "replace.already_counted": N_("Not replaced: this voter's card is already counted (its ballot is in the box)."),
    "replace.card_revoked": N_("Not replaced: the card in the reader was replaced before and is revoked. Keep it for "
                               "the commission. To replace this voter's card, insert the card they hold now, or "
                               "confirm it is not handed back."),
    "replace.not_their_card": N_("Not replaced: the card in the reader is not the card this voter holds. Nothing "
                                 "was changed."),
    "replace.card_unlinked": N_("Not replaced: this voter's card was issued before the station was updated, so it "
                                "cannot be revoked. Insert the old card to replace it."),
    "replace.unknown_token": N_("Not replaced: the card in the reader was not issued at this polling station."),
    "replace.card_not_issued": N_("Not replaced: the card in the reader is not an issued, unused card (a voted card "
                                  "is cast; a blank card carries nothing to cancel)."),
    "replace.card_removed": _PULLED,
    "replace.wrong_election": N_("This card belongs to another election. It was not counted and not changed."),
    "replace.wrong_precinct": N_("This card was issued for another polling station. It was not counted and not "
                                 "changed."),
    "replace.malformed_record": N_("This card cannot be read as a Sailau ballot card."),
    "replace.refused": N_("The card was not replaced."),
    # -- a voted card handled: "counted" and nothing derived from the ballot ------------------------
    "cast.accepted.cleared": N_("Ballot counted. The card is cleared."),
    "cast.accepted.removed": N_("Ballot counted. The card was removed before it was cleared: insert it again to "
                                "clear it."),
    "cast.accepted.refused": N_("Ballot counted. The card could not be cleared: insert it again to clear it. If it "
                                "keeps refusing, set it aside: it cannot be counted again."),
    "cast.already_counted.cleared": N_("Already counted: nothing was added; the card is now cleared."),
    "cast.already_counted.removed": N_("Already counted: nothing was added. The card was removed before it was "
                                       "cleared: insert it again to clear it."),
    "cast.already_counted.refused": N_("Already counted: nothing was added. The card could not be cleared: insert it "
                                       "again to clear it. If it keeps refusing, set it aside: it cannot be counted "
                                       "again."),
    # -- an issued card cancelled ----------------------------------------------------------------------
    "cancel.cancelled.cleared": N_("Card cancelled and cleared: it can be used again."),
    "cancel.cancelled.removed": N_("Card cancelled, but removed before it was cleared: insert it again."),
    "cancel.cancelled.refused": N_("Card cancelled, but it could not be cleared: insert it again to clear it; if it "
                                   "keeps refusing, set it aside (it cannot be cast)."),
    "cancel.already_cancelled.cleared": N_("This card was already cancelled; it is now cleared."),
    "cancel.already_cancelled.refused": N_("This card was already cancelled and could not be cleared: set it aside "
                                           "(it cannot be cast)."),
    # -- issue and replace done ------------------------------------------------------------------------
    "issued": N_("Card issued to {name}. Give the card to the voter."),
    "replaced.returned": N_("Card replaced for {name}: the old card is cancelled. The next blank card is theirs."),
    "replaced.returned_not_cleared": N_("Card replaced for {name}: the old card is cancelled but could not be "
                                        "cleared; set it aside (it cannot be cast). The next blank card is theirs."),
    "replaced.not_returned": N_("Card replaced for {name} without the old card: that card is revoked and is refused "
                                "if it comes back (counted as not handed back). The next blank card is theirs."),
    # -- the reader -----------------------------------------------------------------------------------
    "card_pulled": _PULLED,
    "need_voter": N_("Blank card: check in a voter (or pick one waiting) and it is issued to them."),
    "offer_cancel": N_("This card is issued and holds no ballot."),
    "cancel_withdrawn": N_("The card was removed: it was not cancelled."),
    "card_kept": N_("The card was kept as it is."),
    "issue_failed": N_("The card was pulled out before it was issued. Insert the same card again to finish; if you "
                       "take another card, the first one is cancelled."),
    "card_unreadable": N_("This card cannot be read as a Sailau ballot card. Nothing was recorded and the card was "
                          "not changed."),
    "card_not_blank": N_("The card in the reader is not blank: remove it and insert it again."),
    # -- voters ------------------------------------------------------------------------------------------
    "search_empty": N_("Type an IIN or the first letters of a surname."),
    "found": N_("Found: {n}."),
    "nobody_found": N_("Nobody on the list matches."),
    "find_voter_first": N_("Find the voter first."),
    "checked_in": N_("Checked in: {name}. Insert a blank card."),
    "next_card_for": N_("The next blank card goes to {name}."),
    "already_checked_in": N_("This voter is already checked in: a voter gets one card."),
    "voter_not_found": N_("This voter is not on this precinct's list."),
    "invalid_iin": N_("This IIN is not valid."),
    "card_already_issued": N_("This voter already got a card. A second card only by replacing the first (Replace "
                              "card)."),
    "old_card_needed": N_("Insert the old card to replace it, or confirm it is not handed back."),
    "voter_not_waiting": N_("This voter cannot get a card now (not checked in, or already got one)."),
    "no_voter_selected": N_("Check a voter in first."),
    # -- paper ballots, the additional list, the mobile box (desk.py); refusals by refusal.PAPER_REFUSALS --
    "checked_in_paper": N_("Checked in: {name}. Give them a paper ballot."),
    "paper_received": N_("Act of receipt {seq} signed: {count} paper ballots received."),
    "paper_receipt_not_written": N_("Act of receipt {seq} is recorded ({count} paper ballots), but its file could not "
                                     "be written ({reason}). Do not record the receipt again: fix the folder; the file "
                                     "is written with the next act (or: sailau station paper-acts)."),
    "paper_exchanged": N_("Spoiled paper ballot cancelled. Give the voter a new one."),
    "voter_added": N_("Added to the additional list: {name}."),
    "mobile_requested": N_("Request to vote outside recorded for {name}."),
    "mobile_withdrawn": N_("Request to vote outside withdrawn for {name}: they may vote at the table."),
    "mobile_sent": N_("Mobile team {trip} sent with {ballots} paper ballots and {requests} requests."),
    "mobile_returned": N_("Mobile team {trip} is back: {voted} voted outside, {unused} unused, {spoiled} spoiled."),
    "invalid_entry": N_("This entry cannot be used; nothing was recorded."),
    "refused.already_voted": N_("Not recorded: this voter has already received a ballot."),
    "refused.mobile_requested": N_("Not checked in: this voter asked to vote outside the station. Withdraw the "
                                   "request first if they came in person."),
    "refused.voted_outside": N_("Not checked in: this voter already voted outside the station (mobile ballot box)."),
    "refused.no_paper_left": N_("There are not enough paper ballots left at the table. Record the receipt of more "
                                "paper ballots first."),
    "refused.mobile_counts_mismatch": N_("Not recorded: voters who voted outside plus unused plus spoiled ballots "
                                         "must equal the ballots the team took. Count again."),
    "refused.already_on_list": N_("Not added: this IIN is already on the list."),
    "refused.no_paper_ballot": N_("Not exchanged: this voter was not given a paper ballot."),
    "refused.already_requested": N_("Not recorded: this voter already has an open request to vote outside."),
    "refused.request_not_pending": N_("Not possible: this voter has no request waiting for the mobile team."),
    "refused.no_requests": N_("There is no request waiting: the mobile team was not sent."),
    "refused.too_few_ballots": N_("The mobile team needs at least one paper ballot for each request it carries."),
    "refused.unknown_trip": N_("There is no mobile team trip with this number."),
    "refused.trip_returned": N_("This mobile team trip was already recorded as back."),
    "refused.not_on_trip": N_("Not recorded: a voter marked as voted outside was not on this team's list."),
    # -- opening, polls, closing ---------------------------------------------------------------------------
    "terminal_key_unusable": N_("This terminal key file cannot be used."),
    "terminal_key_added": N_("Terminal key added."),
    "polls_open": N_("Polls are open."),
    "polls_closed": N_("The polls are closed. F4 counts again with the shares."),
    "wrong_polls_state": N_("Not possible now: the polls are {state}."),
    "zero_report_failed": N_("The zero report failed: the polls were not opened."),
    "counting": N_("Counting: rebuilding the key, decrypting and signing…"),
    "protocol_refused": N_("The ballots read do not match the ballots counted: the protocol was NOT signed. Close "
                           "again: the count is read again."),
    "sealing_failed": N_("The polls are closed, but the storage could not be sealed, so nothing was signed. Close any "
                         "other program using the database (or free disk space), then close again."),
    "shares_do_not_rebuild": N_("The shares do not rebuild the election key: the polls stay as they were."),
    "file_not_written": N_("A file could not be written ({reason}). Fix the folder or free space, then try again: "
                           "close of polls resumes where it stopped."),
    "station_refused": N_("The station refused: {detail}"),
    # -- end of voting and the count at close (issue 13, item 4) ---------------------------------------
    "voting_ended": N_("Voting has ended: the polls are closed and the ballot box sealed. Open the mobile box, then "
                       "the stationary box, and count the paper ballots; then close with the shares."),
    "hand_count.entered": N_("Hand count entered. {needed} more member(s) must enter it: two different members enter "
                             "the same count."),
    "hand_count.agreed": N_("The hand count agrees: {n} members entered the same figures. Close with the shares to "
                            "sign."),
    "hand_count.hand_count_mismatch": N_("The hand count entries differ on {n} line(s): count those lines again and "
                                         "enter them; the protocol cannot be signed until they agree."),
    "hand_count.hand_count_missing": N_("Paper ballots were used: two different members must enter the hand count "
                                        "before the protocol is signed. Nothing was signed."),
    "hand_count.not_a_member": N_("This key is not one of this precinct commission's members: nothing was entered."),
    "hand_count.invalid": N_("This hand count cannot be entered: it is not a count of this precinct's ballot."),
    "hand_count.relations": N_("Not signed: control relations fail on the figures entered by hand ({names}). Count "
                               "again, correct the hand count (both members), then close again."),
    "cosign.nothing": N_("There is no signed protocol to co-sign yet: close the polls first."),
    "cosign.key_unusable": N_("This member key file cannot be used."),
    "cosign.not_a_member": N_("This key is not one of this precinct commission's members: the protocol was not "
                              "co-signed."),
    "cosign.role": N_("This member's role is {role}: the protocol was not co-signed in another role."),
    "cosign.already": N_("{name} has already co-signed this protocol."),
    "cosign.refused": N_("The co-signature of {name} could not be made."),
    "cosign.signed": N_("{name} co-signed the protocol ({n} of {of} members). A majority of the members must sign."),
    "cosign.majority": N_("{name} co-signed the protocol: {n} of {of} members have signed, a majority. The wall "
                          "copies now show it."),
    # -- shares at entry, by close.ShareRefusal; fields: index, k, need ------------------------------------
    "share.wrong_election": N_("Share {index} is for another election: it was not added."),
    "share.wrong_key": N_("Share {index} is for another election key: it was not added."),
    "share.other_split": N_("Share {index} comes from another key ceremony than the shares already entered: it was "
                            "not added. Check which election each member's share is for."),
    "share.wrong_threshold": N_("Share {index} is from a split that needs {k} shares; this election needs {need}: it "
                                "was not added."),
    "share.duplicate": N_("Share {index} is already entered."),
    "share.rebuilds_other_key": N_("With share {index} the shares rebuild the key of another election: it was not "
                                   "added. Remove the share that does not belong (ask each member which election "
                                   "their share is for)."),
    "share_file_unusable": N_("This share file cannot be used."),
    "share_words_invalid": N_("These share words are not valid: check each word."),
    "share_added": N_("Share {index} added."),
    "share_removed": N_("Share {index} removed."),
    "share_highlight_first": N_("Highlight the share to remove first."),
    # -- the audit view -------------------------------------------------------------------------------------
    "chain_verified": N_("Chain verified: {n} events, head {head}."),
    "chain_broken": N_("Chain BROKEN at event {seq}: the log was altered."),
    # -- storage failures, by (StationOperation, Recorded); the cause by StorageProblem -------------------------
    "storage.cast.nothing": N_("Not counted: the station could not save this ballot. The card is unchanged: keep it, "
                               "call the technician, and insert it again when the station works."),
    "storage.cast.counted": N_("Ballot counted, but the station failed before clearing the card: insert it again to "
                               "clear it."),
    "storage.cast.unknown": N_("Not confirmed: the station cannot tell whether this ballot was saved. Keep the card "
                               "and insert it again when the station works: it is counted once, never twice."),
    "storage.issue.nothing": N_("No card issued: the station could not save. The card is unchanged and the voter "
                                "still waits: call the technician, then insert the card again."),
    "storage.cancel.nothing": N_("Not cancelled: the station could not save. The card is unchanged: keep it and "
                                 "insert it again when the station works."),
    "storage.replace.nothing": N_("Not replaced: the station could not save, nothing was recorded. Try again when the "
                                  "station works."),
    "storage.check_in.nothing": N_("Not checked in: the station could not save. Check the voter in again when the "
                                   "station works."),
    "storage.open_polls.nothing": N_("The polls were not opened: the station could not save. Call the technician, "
                                     "then open them again."),
    "storage.close_polls.nothing": N_("Close of polls did not finish: the station could not use its database. "
                                      "Nothing was signed. Call the technician, then close again: it resumes."),
    "storage.paper.nothing": N_("Not recorded: the station could not save the paper ballot step. Nothing was "
                                "changed: try again when the station works."),
    "storage.mobile.nothing": N_("Not recorded: the station could not save the mobile box step. Nothing was changed: "
                                 "try again when the station works."),
    "storage.other": N_("The station cannot use its database right now; nothing was changed. Call the technician."),
    "cause.disk_full": N_("Cause: the station's disk is full. Details are in the operator log."),
    "cause.read_only": N_("Cause: the station's database cannot be written (read-only). Details are in the operator "
                          "log."),
    "cause.unavailable": N_("Cause: the station's database cannot be reached. Details are in the operator log."),
    "cause.failed": N_("Cause: a database error. Details are in the operator log."),
    # -- sending the signed files to the commission, by submit.Outcome (per file) -------------------------------
    "send.accepted": N_("{file}: accepted by the commission."),
    "send.unchanged": N_("{file}: the commission already had this file. Nothing more to do."),
    "send.conflict": N_("{file}: received, but the commission holds another signed file for this precinct; neither "
                        "counts until the commission decides. Call the commission."),
    "send.refused": N_("{file}: refused by the commission ({reason}). The file is kept as it is; call the commission."),
    "send.unreachable": N_("{file}: the commission did not answer. The signed file is kept on this station unchanged: "
                           "send again later."),
    "send.sending": N_("Sending to the commission..."),
    "send.no_address": N_("No commission address is set, so nothing can be sent. Start the app with "
                          "--commission-url (or set SAILAU_COMMISSION_URL); the signed files stay on this station."),
    "send.nothing": N_("There is no signed protocol to send yet: close the polls first."),
    # -- the unexpected: the raw error is in the operator log ------------------------------------------------------
    "unexpected.card": N_("Something went wrong with this card; details are in the operator log. Insert it again: "
                          "the station finishes the job, and a ballot is never counted twice."),
    "unexpected": N_("Something went wrong; details are in the operator log. Try again; if it repeats, call the "
                     "technician."),
}


def text_of(code: str) -> str:
    """The message id of `code` (KeyError for a code not in the catalogue: a bug)."""
    return TEXTS[code]


@dataclass(frozen=True)
class Note:
    """What the clerk should read: a catalogue code, its fields, a severity, an
    optional cause (a second code) and an optional detail (our own service's
    explanation, shown last and untranslated; raw errors never go here, they go to
    the operator log)."""

    code: str
    severity: str = "info"
    fields: Mapping[str, Any] = field(default_factory=dict)
    detail: str = ""
    cause: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if self.code not in TEXTS or (self.cause and self.cause not in TEXTS):
            raise KeyError(f"note code {self.code!r} (cause {self.cause!r}) is not in the catalogue")

    @property
    def msgid(self) -> str:
        return TEXTS[self.code]

    def render(self, t: Translate) -> str:
        lines = [t(self.msgid, **self.fields)]
        if self.cause:
            lines.append(t(TEXTS[self.cause]))
        if self.detail:
            lines.append(self.detail)
        return "\n".join(lines)
