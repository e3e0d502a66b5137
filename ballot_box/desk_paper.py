"""The paper ballots, the additional list and the mobile box at the clerk's desk (issue
13): `PaperDesk`, one part of desk.py's `ClerkDesk`. Each operation is one station call
whose note (or the refusal's) becomes the desk note, the figures read again after it
(`_paper_step`); a paper voter's check-in is desk.py's `check_in`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from . import oplog
from .desk_notes import voter_name
from .desk_state import DeskState, DeskStep
from .messages import Note

__all__ = ["PaperDesk"]

T = TypeVar("T")


class PaperDesk(DeskState):
    """Paper ballots, the additional list, the mobile box (see the module doc)."""

    def _paper_step(self, call: Callable[[], T], what: str, done: Callable[[T], DeskStep]) -> DeskStep:
        """Run one paper or mobile step: its note (or the refusal's) as the desk note, figures re-read."""
        with self._work:
            value, failed = self._desk_call(call, what)
            if failed is not None:
                self._reload()
                return DeskStep(failed)
            step = done(value)  # type: ignore[arg-type]
            self._set(desk=step.note)
            self._reload()
            return step

    def exchange_paper(self, iin: str) -> DeskStep:
        """A paper voter's spoiled ballot is cancelled and a new one handed over."""
        return self._paper_step(lambda: self.station.exchange_paper(iin), "exchange paper",
                                lambda ledger: DeskStep(Note("paper_exchanged", "ok"), paper=ledger))

    def receive_paper(self, count: int, from_whom: str, received_by: str, *,
                      now: dt.datetime | None = None) -> DeskStep:
        """Record and sign an act of receipt; the act is written to the out dir (if set) as
        ``paper-receipt-<seq>.json``. The act is stored first (the record), its file after:
        a file that could not be written is said (the receipt must not be recorded twice)
        and written again with the next act, since every stored act missing from the out
        dir is written each time."""
        with self._work:
            act, failed = self._desk_call(lambda: self.station.receive_paper(count, from_whom, received_by, now=now),
                                          "receive paper")
            if act is None:
                self._reload()
                return DeskStep(failed)
            fields = {"seq": act.seq, "count": act.count}
            path: Path | None = None
            note = Note("paper_received", "ok", fields)
            if self.out_dir is not None:
                try:
                    for stored in self.station.paper_receipts():
                        written = stored.write(self.out_dir)
                        path = written if stored.seq == act.seq else path
                except Exception as exc:  # the act is recorded: say the file is missing, never "try again"
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                    oplog.failure("write paper receipt act", exc)
                    note = Note("paper_receipt_not_written", "warn", {**fields, "reason": reason})
            self._set(desk=note)
            self._reload()
            with self._state:
                ledger = self._paper
            return DeskStep(note, paper=ledger, receipt=path)

    def add_voter(self, iin: str, surname: str, given_name: str, patronymic: str,
                  birth_date: dt.date | str) -> DeskStep:
        """Add a voter to the additional list (then check them in as anyone)."""
        return self._paper_step(lambda: self.station.add_voter(iin, surname, given_name, patronymic, birth_date),
                                "add voter", lambda v: DeskStep(Note("voter_added", "ok", {"name": voter_name(v)}), voter=v))

    def request_mobile(self, iin: str, reason: str, received_by: str, *, now: dt.datetime | None = None) -> DeskStep:
        """Record a written request to vote outside the station."""
        return self._paper_step(lambda: self.station.request_mobile(iin, reason, received_by, now=now),
                                "request mobile", lambda r: DeskStep(
                                    Note("mobile_requested", "ok", {"name": f"{r.surname} {r.given_name}"}), request=r))

    def withdraw_mobile(self, iin: str) -> DeskStep:
        """Withdraw a pending request (the voter came in person)."""
        return self._paper_step(lambda: self.station.withdraw_mobile(iin), "withdraw mobile", lambda r: DeskStep(
            Note("mobile_withdrawn", "ok", {"name": f"{r.surname} {r.given_name}"}), request=r))

    def send_mobile_team(self, members: Sequence[str], ballots: int, iins: Sequence[str] | None = None) -> DeskStep:
        """The mobile team leaves with counted paper ballots and its list of requests."""
        return self._paper_step(lambda: self.station.send_mobile_team(members, ballots, iins), "send mobile team",
                                lambda t: DeskStep(Note("mobile_sent", "ok", {
                                    "trip": t.id, "ballots": t.ballots, "requests": len(t.iins)}), trip=t))

    def return_mobile_team(self, trip_id: int, voted: Sequence[str], unused: int, spoiled: int) -> DeskStep:
        """The mobile team is back: who voted outside, unused and spoiled ballots."""
        return self._paper_step(lambda: self.station.return_mobile_team(trip_id, voted, unused, spoiled),
                                "return mobile team", lambda t: DeskStep(Note("mobile_returned", "ok", {
                                    "trip": t.id, "voted": t.voted, "unused": t.unused, "spoiled": t.spoiled}), trip=t))
