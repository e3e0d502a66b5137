"""End of voting and the count at close at the clerk's desk (issue 13, item 4):
`CountDesk`, one part of desk.py's `ClerkDesk`. Voting ends (the polls close and the
storage is sealed, without the shares), members enter the hand count of the paper
ballots (two different members, the same figures), close of polls (desk.py) counts
the electronic ballots and signs, and members co-sign the signed protocol on this
station. The commission, the double entry and the co-signatures beside
``protocol.json`` are read again after each operation (`_reload`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sailau.election import crypto
from sailau.election.cosign import (
    COSIGN_SUFFIX,
    MAX_COSIGNATURES,
    CosignCheck,
    CosignError,
    check_cosignatures,
    cosignature_file_name,
    read_cosignature_file,
    write_cosignature,
)
from sailau.election.cosign import cosign as make_cosignature
from sailau.election.members import Member
from sailau.election.protocol import ProtocolError, SignedProtocol
from sailau.election.turnout import election_time_zone

from . import oplog
from .desk_notes import note_for_error, note_for_hand_count
from .desk_state import DeskState, DeskStep
from .handcount import HandCount, HandCountError, HandCountState
from .messages import Note
from .results import StorageFailed
from .wallcopy import write_wall_copies

__all__ = ["CountDesk"]


class CountDesk(DeskState):
    """End of voting, the hand count's double entry, co-signing (see the module doc)."""

    def _reload(self) -> None:
        """The storage figures (`DeskState._reload`), then the count's (`_reload_count`)."""
        super()._reload()
        self._reload_count()

    def end_voting(self) -> DeskStep:
        """Voting ends: the polls close and the storage is sealed, without the shares, so the
        commission opens the boxes and counts the paper ballots first (`Station.end_voting`).
        Close of polls (`close_polls`) then counts the electronic ballots and signs."""
        with self._work:
            _, failed = self._call(self.station.end_voting, "end voting")
            self._reload()
            note = failed or Note("voting_ended", "ok")
            self._set(desk=note)
            return DeskStep(note)

    def _reload_count(self) -> None:
        """The commission, the hand count's double entry and the co-signatures (after each operation)."""
        try:
            members: tuple[Member, ...] = self.station.members()
            hand: HandCountState | None = self.station.hand_count()
        except StorageFailed:
            members, hand = (), None
        check = self._check_cosignatures(members)
        with self._state:
            self._members, self._hand_count, self._cosignatures = members, hand, check

    def _protocol_file(self) -> Path | None:
        path = None if self.out_dir is None else self.out_dir / "protocol.json"
        return path if path is not None and path.is_file() else None

    def _check_cosignatures(self, members: Sequence[Member]) -> CosignCheck | None:
        """The co-signatures beside the signed protocol, checked against the station's members
        (`cosign.check_cosignatures`; the registry is the commission's check, not this one)."""
        path = self._protocol_file()
        if path is None:
            return None
        try:
            signed = SignedProtocol.from_canonical_json(path.read_bytes())
        except (OSError, ProtocolError) as exc:
            oplog.failure("read the signed protocol", exc)
            return None
        found = []
        for f in sorted(path.parent.glob("protocol.*" + COSIGN_SUFFIX))[:MAX_COSIGNATURES + 1]:
            try:
                found.append((f.name, read_cosignature_file(f)))
            except CosignError as exc:
                oplog.failure("read a co-signature", exc)
        return check_cosignatures(signed, found, members)

    def enter_hand_count(self, member_key_id: bytes, count: HandCount) -> DeskStep:
        """A member enters the hand count of the paper ballots (after the end of voting). Two
        different members must enter the same figures; a member's re-entry replaces their own.
        The note says what is still needed, that the count agrees, or how many lines differ
        (the lines: `view().hand_count.differences`)."""
        with self._work:
            state: HandCountState | None = None
            try:
                state = self.station.enter_hand_count(member_key_id, count)
            except HandCountError as exc:
                note = Note("hand_count.invalid", "error", detail=str(exc))
            except Exception as exc:
                note = note_for_error(exc, what="enter hand count")
            else:
                note = note_for_hand_count(state)
            self._set(desk=note)
            self._reload()
            return DeskStep(note, hand_count=state)

    def cosign(self, key_file: str | Path, dissent: str | None = None, *, role: str | None = None) -> DeskStep:
        """A member co-signs the signed protocol on this station with their own key file
        (`election.cosign`): the co-signature (with the dissenting opinion, if any) is
        written beside the protocol as ``protocol.<key id>.cosig`` and never overwritten;
        the wall copies are printed again with who has signed. The member must be one of
        the station's members, in their own role (`role`, when given, must be it)."""
        with self._work:
            note, written = self._cosign(Path(key_file), dissent, role)
            self._set(desk=note)
            self._reload()
            return DeskStep(note, cosignature=written)

    def _cosign(self, key_file: Path, dissent: str | None, role: str | None) -> tuple[Note, Path | None]:
        path = self._protocol_file()
        if path is None:
            return Note("cosign.nothing", "warn"), None
        try:
            key = crypto.load_signing_key(key_file)
        except crypto.KeyFileError as exc:
            return Note("cosign.key_unusable", "error", detail=str(exc)), None
        try:
            members = self.station.members()
            raw = path.read_bytes()
            signed = SignedProtocol.from_canonical_json(raw)
        except Exception as exc:
            return note_for_error(exc, what="co-sign"), None
        mine = [m for m in members if m.public_key == crypto.ed25519_public_bytes(key.public_key())]
        if not mine:
            return Note("cosign.not_a_member", "error"), None
        member = mine[0]
        if role is not None and role != member.role.value:
            return Note("cosign.role", "error", {"role": member.title("en")}), None
        try:
            cosig = make_cosignature(signed, key, member.role, when=self.station.db.clock(),
                                     time_zone=election_time_zone(self.election), dissent=dissent or None)
            target = path.with_name(cosignature_file_name(path.name, cosig))
            write_cosignature(cosig, target)
        except CosignError as exc:
            code = "cosign.already" if "already exists" in str(exc) else "cosign.refused"
            return Note(code, "warn" if code == "cosign.already" else "error", {"name": member.name}, detail=str(exc)), None
        check = self._check_cosignatures(members)
        try:
            write_wall_copies(path.parent, signed, self.election, members, check)
        except Exception as exc:  # the co-signature is written; the printed copies can be made again
            oplog.failure("print the wall copies", exc)
        fields = {"name": member.name, "n": 0 if check is None else len(check.valid), "of": len(members)}
        return Note("cosign.majority" if check is not None and check.majority else "cosign.signed", "ok", fields), target
