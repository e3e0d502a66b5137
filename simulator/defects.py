"""Deliberately broken virtual ballot cards, for the conformance kit
(`sailau card serve --defect NAME`, `sailau card conformance`).

Each defect is one plausible applet bug, and it names the conformance clauses
it breaks; tests/test_conformance.py runs the kit against each and checks that
exactly those clauses fail (the others pass), so the kit is shown to catch the
bug and to blame nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.eeprom import CardImage
from sailau.smartcard.apdu import CLA_PROPRIETARY, DIGEST_LENGTH, PROOF_LENGTH, CardState, Ins
from sailau.smartcard.card_keys import verify_proof


class StaleProofCard(VirtualBallotCard):
    """Accepts a proof made for its current counter or the one before (a
    "tolerance" for a lost answer): a recorded CLEAR works a second time."""

    def _check_proof(self, ins: int, data: bytes, proof: bytes) -> bool:
        assert self._image is not None
        counter = self._image.counter
        return any(verify_proof(self._image.card_key, ins, c, data, proof) for c in {counter, max(counter - 1, 0)})


class WriteTwiceCard(VirtualBallotCard):
    """Lets WRITE BALLOT overwrite a VOTED card's record."""

    COMMANDS = {
        **VirtualBallotCard.COMMANDS,
        (CLA_PROPRIETARY, Ins.WRITE_BALLOT): replace(
            VirtualBallotCard.COMMANDS[(CLA_PROPRIETARY, Ins.WRITE_BALLOT)],
            states=frozenset({CardState.ISSUED, CardState.VOTED}),
        ),
    }


class RecordDigestCard(VirtualBallotCard):
    """Answers WRITE BALLOT with a digest of the record alone, not of the data file."""

    def _digest(self, image: CardImage) -> bytes:
        return hashlib.sha256(image.record or b"").digest()[:DIGEST_LENGTH]


class LaxClearCard(VirtualBallotCard):
    """Takes CLEAR with any data of at least 8 bytes (the proof is the last 8)."""

    COMMANDS = {
        **VirtualBallotCard.COMMANDS,
        (CLA_PROPRIETARY, Ins.CLEAR): replace(
            VirtualBallotCard.COMMANDS[(CLA_PROPRIETARY, Ins.CLEAR)], lc=(PROOF_LENGTH, 255)
        ),
    }


class StickySelectCard(VirtualBallotCard):
    """A SELECT of another AID answers 6A82 but leaves the application selected."""

    def _select(self, apdu: Any) -> bytes:
        was_selected = self._selected
        try:
            return super()._select(apdu)
        finally:
            self._selected = self._selected or was_selected


def _unjournaled(card: VirtualBallotCard) -> VirtualBallotCard:
    card.store.journaled = False
    return card


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    card_class: type[VirtualBallotCard]
    breaks: frozenset[str]
    """The conformance clauses this defect fails (and no other)."""
    adjust: Callable[[VirtualBallotCard], VirtualBallotCard] = lambda card: card

    def make(self, **kwargs: Any) -> VirtualBallotCard:
        """A new card with this defect (`VirtualBallotCard`'s arguments)."""
        return self.adjust(self.card_class(**kwargs))

    def open_image(self, path: Any, **kwargs: Any) -> VirtualBallotCard:
        """The card in an image file, with this defect."""
        return self.adjust(self.card_class.open_image(path, **kwargs))


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("stale-proof", "accepts a proof for the counter before the current one", StaleProofCard,
               frozenset({"proof.once", "proof.stale-after-write"})),
        Defect("write-twice", "WRITE BALLOT overwrites a VOTED card", WriteTwiceCard,
               frozenset({"matrix.write-ballot.voted"})),
        Defect("record-digest", "WRITE BALLOT answers the digest of the record, not of the data file",
               RecordDigestCard, frozenset({"matrix.write-ballot.issued", "write.digest"})),
        Defect("lax-clear", "CLEAR takes any data of 8 bytes or more", LaxClearCard, frozenset({"lc.clear"})),
        Defect("sticky-select", "a failed SELECT leaves the application selected", StickySelectCard,
               frozenset({"select.other-aid"})),
        Defect("no-journal", "state changes are written in place, without the journal (a power cut leaves a mix)",
               VirtualBallotCard, frozenset({"atomic.issue", "atomic.write-ballot", "atomic.clear"}),
               _unjournaled),
    )
}
