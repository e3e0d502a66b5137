"""The ballot card contract (smartcard/README.md, protocol v2) as a conformance
kit: every clause run against whatever card a `Transport` reaches, one result
per clause. This is what a vendor runs against a Java Card applet that
implements the contract (`sailau card conformance --reader NAME`), and what the
virtual card passes through pcscd + vpcd.

The kit speaks raw APDUs: it builds them from the contract's constants and
checks status words and bytes itself, never through `BallotCardClient`, so a
client bug cannot hide a card bug. Each clause starts from a fresh session
(the card is reset) and brings the card into the state it needs with ISSUE,
WRITE BALLOT and CLEAR, which need the station's card master key: without it,
the clauses that write are skipped. The kit leaves the card BLANK when it has
the key.

Clauses come in groups (the id's first part):

- `matrix.*`: every command in every state, unselected, and for ISSUE and
  CLEAR with a valid proof, a proof under another key and a proof for another
  counter value; the status word, and that a refusal changed nothing (state,
  counter, data) while a success made exactly its change;
- `select.*`, `order.*`, `lc.*`, `le.*`, `read.*`: SELECT behaviour, the order
  of the checks, the Lc/Le rules, READ BINARY offsets;
- `counter.*`, `proof.*`: freshness: the counter moves by one per state change
  and survives power off; a proof is good once, for one card, one command, one
  issue block and one counter value;
- `write.*`, `persist.*`: WRITE BALLOT's digest, the largest sizes, persistence;
- `atomic.*`: a power cut at byte offsets of ISSUE, WRITE BALLOT and CLEAR
  leaves the old state, data and counter or the new ones, never a mix. They
  need the card's TEST TEAR hook (test builds only); a card without it gets
  them skipped, with the reason (tear a real card with a rig).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from sailau.smartcard.apdu import (
    AID,
    AID_PREFIX,
    AID_V1,
    COUNTER_LENGTH,
    DIGEST_LENGTH,
    MAX_COUNTER,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    PROOF_LENGTH,
    SERIAL_LENGTH,
    STATUS_LENGTH,
    SW,
    CardState,
    Ins,
    data_file,
    write_digest,
)
from sailau.smartcard.card_keys import command_proof, diversify
from sailau.smartcard.errors import CardError, CardRemovedError
from sailau.smartcard.transport import Transport

TEST_BLOCK = bytes(range(0x40, 0x40 + 55))
"""The issue block the kit writes (55 bytes, the size of a real one)."""
TEST_RECORD = bytes((7 * i + 3) & 0xFF for i in range(150))
"""The ballot record the kit writes (150 bytes, the size of a real one)."""
OTHER_MASTER_KEY = bytes.fromhex("6e6f742d7468652d73746174696f6e21")
"""A master key no station uses ("not-the-station!"): proofs under it must fail."""

SELECT_STATUS = bytes((0x00, Ins.SELECT, 0x04, 0x00, len(AID))) + AID + b"\x00"
SELECT_NO_DATA = bytes((0x00, Ins.SELECT, 0x04, 0x0C, len(AID))) + AID
READ_ALL = bytes((0x00, Ins.READ_BINARY, 0x00, 0x00, 0x00))

SAMPLED_TEAR_OFFSETS = (0, 1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024, 1536)
"""Byte offsets a power cut is tried at when not every byte is (each cut costs
a reinsertion: over a second through pcscd). Denser where the virtual card's
commit markers fall, but any card's changes end within the last offset."""


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class ClauseResult:
    id: str
    title: str
    outcome: Outcome
    detail: str = ""


@dataclass
class ConformanceReport:
    """One result per clause, in the kit's order."""

    atr: bytes
    serial: bytes | None
    tear_hook: bool
    master_key: bool
    results: list[ClauseResult] = field(default_factory=list)
    seconds: float = 0.0

    def ids(self, outcome: Outcome) -> list[str]:
        return [r.id for r in self.results if r.outcome is outcome]

    @property
    def ok(self) -> bool:
        """No clause failed (skipped clauses are listed, not failures)."""
        return not self.ids(Outcome.FAIL)

    def summary(self) -> str:
        counts = {o: len(self.ids(o)) for o in Outcome}
        return (f"{len(self.results)} clauses: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
                f"{counts[Outcome.SKIP]} skipped")

    def as_dict(self) -> dict[str, object]:
        return {
            "schema": "sailau-card-conformance/1",
            "protocol": AID[-1],
            "atr": self.atr.hex(),
            "serial": self.serial.hex() if self.serial is not None else None,
            "tear_hook": self.tear_hook,
            "master_key": self.master_key,
            "seconds": round(self.seconds, 3),
            "summary": {o.value: len(self.ids(o)) for o in Outcome},
            "clauses": [{"id": r.id, "title": r.title, "outcome": r.outcome.value, "detail": r.detail}
                        for r in self.results],
        }


class Deviation(Exception):
    """The card did something the contract does not allow (the clause fails)."""


class CannotRun(Exception):
    """The clause cannot be run on this card as it is (the clause is skipped)."""


@dataclass(frozen=True)
class Answer:
    data: bytes
    sw: int


@dataclass(frozen=True)
class View:
    """What a host sees of the card after SELECT and READ BINARY."""

    state: int
    serial: bytes
    counter: int
    data: bytes  # the data file

    def describe(self) -> str:
        name = CardState(self.state).name if self.state in iter(CardState) else f"state {self.state:02X}"
        return f"{name}, counter {self.counter}, data file {len(self.data)} bytes"


class CardUnderTest:
    """Raw access to one card for the clauses."""

    def __init__(self, transport: Transport, master_key: bytes | None,
                 after_tear: Callable[[], None] | None = None, *, every_byte: bool = False,
                 reconnect_timeout: float = 20.0) -> None:
        self.transport = transport
        self.master_key = master_key
        self.after_tear = after_tear
        self.every_byte = every_byte
        self.reconnect_timeout = reconnect_timeout
        self.atr = b""

    # -- wire ---------------------------------------------------------------
    def send(self, apdu: bytes) -> Answer:
        raw = self.transport.transmit(bytes(apdu))
        if len(raw) < 2:
            raise Deviation(f"{apdu[:4].hex(' ')}: answer without a status word ({raw.hex()})")
        return Answer(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    def expect(self, apdu: bytes, sw: int, what: str, *, length: int | None = None) -> bytes:
        """Send; the answer must be `sw` (and `length` data bytes when given;
        no data with an error status word)."""
        answer = self.send(apdu)
        if answer.sw != sw:
            raise Deviation(f"{what}: answered {answer.sw:04X}, the contract says {sw:04X}")
        if sw != SW.OK and answer.data:
            raise Deviation(f"{what}: answered {answer.sw:04X} with {len(answer.data)} data bytes")
        if length is not None and len(answer.data) != length:
            raise Deviation(f"{what}: answered {len(answer.data)} data bytes, the contract says {length}")
        return answer.data

    def reset(self) -> None:
        """A new session: power the card again (drops the selection)."""
        self.atr = self.transport.connect()

    def reconnect(self) -> None:
        """Wait for a card that lost power (a tear) to be back, and connect."""
        if self.after_tear is not None:
            self.after_tear()
        deadline = time.monotonic() + self.reconnect_timeout
        while True:
            try:
                self.reset()
                self.send(SELECT_NO_DATA)
                return
            except CardError as exc:
                if time.monotonic() > deadline:
                    raise Deviation(f"the card did not come back within {self.reconnect_timeout:g} s: {exc}") from exc
                time.sleep(0.1)  # a PC/SC reader notices a reinserted card on its next presence poll

    # -- the card's view ----------------------------------------------------
    def select(self) -> tuple[int, bytes, int]:
        data = self.expect(SELECT_STATUS, SW.OK, "SELECT", length=STATUS_LENGTH)
        return data[0], data[1 : 1 + SERIAL_LENGTH], int.from_bytes(data[1 + SERIAL_LENGTH :], "big")

    def read_file(self) -> bytes:
        first = self.expect(READ_ALL, SW.OK, "READ BINARY")
        if not first:
            raise Deviation("READ BINARY answered an empty data file (a BLANK card's is 00 00)")
        if len(first) < 2 + first[0]:
            raise Deviation(f"READ BINARY answered {len(first)} bytes, cut inside the issue block")
        size = 2 + first[0] + first[1 + first[0]]
        if size > len(first) == 256:
            first += self.expect(bytes((0x00, Ins.READ_BINARY, 0x01, 0x00, size - 256)), SW.OK, "READ BINARY at 256")
        if len(first) != size:
            raise Deviation(f"READ BINARY answered {len(first)} bytes but the lengths in it say {size}")
        return first

    def view(self) -> View:
        """SELECT (status) and READ BINARY in the current session."""
        state, serial, counter = self.select()
        return View(state, serial, counter, self.read_file())

    def fresh_view(self) -> View:
        self.reset()
        return self.view()

    # -- commands -----------------------------------------------------------
    def proof(self, ins: int, counter: int, data: bytes = b"", *, master: bytes | None = None,
              serial: bytes) -> bytes:
        key = master if master is not None else self.master_key
        assert key is not None, "clauses that write declare needs_key"
        return command_proof(diversify(key, serial), ins, counter % (MAX_COUNTER + 1), data)

    def issue_apdu(self, view: View, block: bytes = TEST_BLOCK, *, counter: int | None = None,
                   master: bytes | None = None, proof_block: bytes | None = None) -> bytes:
        counter = view.counter if counter is None else counter
        proof = self.proof(Ins.ISSUE, counter, block if proof_block is None else proof_block,
                           master=master, serial=view.serial)
        body = block + proof
        return bytes((0x80, Ins.ISSUE, 0x00, 0x00, len(body))) + body

    def clear_apdu(self, view: View, *, counter: int | None = None, master: bytes | None = None,
                   ins: int = Ins.CLEAR) -> bytes:
        counter = view.counter if counter is None else counter
        proof = self.proof(ins, counter, master=master, serial=view.serial)
        return bytes((0x80, Ins.CLEAR, 0x00, 0x00, PROOF_LENGTH)) + proof

    @staticmethod
    def write_apdu(record: bytes = TEST_RECORD, le: bytes = bytes((DIGEST_LENGTH,))) -> bytes:
        return bytes((0x80, Ins.WRITE_BALLOT, 0x00, 0x00, len(record))) + record + le

    # -- getting into a state -------------------------------------------------
    def blank(self) -> View:
        view = self.fresh_view()
        if view.state != CardState.BLANK:
            if self.master_key is None:
                raise CannotRun(f"the card is {view.describe()}: clearing it needs the master key (--master-key)")
            self.expect(self.clear_apdu(view), SW.OK, "CLEAR (to start from a BLANK card)")
            view = self.view()
            if view.state != CardState.BLANK:
                raise Deviation(f"after CLEAR the card is {view.describe()}, not BLANK")
        return view

    def issued(self, block: bytes = TEST_BLOCK) -> View:
        view = self.blank()
        self.expect(self.issue_apdu(view, block), SW.OK, "ISSUE (to reach ISSUED)")
        return self.view()

    def voted(self, block: bytes = TEST_BLOCK, record: bytes = TEST_RECORD) -> View:
        self.issued(block)
        self.expect(self.write_apdu(record), SW.OK, "WRITE BALLOT (to reach VOTED)", length=DIGEST_LENGTH)
        return self.view()

    def in_state(self, state: CardState) -> View:
        """A new session on a card in `state` (TEST_BLOCK, TEST_RECORD), selected."""
        view = {CardState.BLANK: self.blank, CardState.ISSUED: self.issued, CardState.VOTED: self.voted}[state]()
        if view.state != state:
            raise Deviation(f"could not bring the card to {state.name}: it is {view.describe()}")
        self.reset()
        self.expect(SELECT_NO_DATA, SW.OK, "SELECT (P2 0C)")
        return view

    def has_tear_hook(self) -> bool:
        """TEST TEAR without its data: a card with the hook answers 6700 (wrong
        length), a production applet 6D00. Nothing is armed either way."""
        self.reset()
        self.expect(SELECT_NO_DATA, SW.OK, "SELECT (P2 0C)")
        return self.send(bytes((0x80, Ins.TEST_TEAR, 0x00, 0x00))).sw == SW.WRONG_LENGTH

    def arm_tear(self, after_bytes: int) -> None:
        self.expect(bytes((0x80, Ins.TEST_TEAR, 0x00, 0x00, 0x02)) + after_bytes.to_bytes(2, "big"), SW.OK,
                    "TEST TEAR")


# --- the clauses --------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    run: Callable[[CardUnderTest], None]
    needs_key: bool = False
    needs_tear: bool = False
    needs_short_apdus: bool = False


CLAUSES: list[Clause] = []


def clause(id: str, title: str, *, needs_key: bool = False, needs_tear: bool = False, needs_short_apdus: bool = False
           ) -> Callable[[Callable[[CardUnderTest], None]], Callable[[CardUnderTest], None]]:
    def register(run: Callable[[CardUnderTest], None]) -> Callable[[CardUnderTest], None]:
        if any(c.id == id for c in CLAUSES):
            raise ValueError(f"clause {id} defined twice")
        CLAUSES.append(Clause(id, title, run, needs_key, needs_tear, needs_short_apdus))
        return run
    return register


def _unchanged(cut: CardUnderTest, before: View, what: str) -> None:
    after = cut.view()
    if after != before:
        raise Deviation(f"{what} was refused but changed the card: {before.describe()} -> {after.describe()}")


def _became(cut: CardUnderTest, before: View, state: CardState, data: bytes, what: str) -> None:
    after = cut.view()
    want = View(state, before.serial, before.counter + 1, data)
    if after != want:
        raise Deviation(f"after {what} the card is {after.describe()}; the contract says {want.describe()}")


# -- the state x command x proof matrix -------------------------------------------------

_STATES = (CardState.BLANK, CardState.ISSUED, CardState.VOTED)
_PROOFS = {"valid": "a valid proof", "other-key": "a proof under another master key",
           "other-counter": "a proof for another counter value"}
_DATA_AFTER = {CardState.BLANK: data_file(None, None), CardState.ISSUED: data_file(TEST_BLOCK, None),
               CardState.VOTED: data_file(TEST_BLOCK, TEST_RECORD)}


def _matrix_clause(command: str, state: CardState, proof: str | None) -> None:
    name = command.lower().replace(" ", "-")
    cid = f"matrix.{name}.{state.name.lower()}" + (f".{proof}" if proof else "")
    privileged = command in ("ISSUE", "CLEAR")
    needs_key = state is not CardState.BLANK or proof == "valid"  # a refusal on a BLANK card writes nothing
    title = f"{command} on a {state.name} card" + (f" with {_PROOFS[proof]}" if proof else "")

    def run(cut: CardUnderTest) -> None:
        before = cut.in_state(state)
        if command == "SELECT":
            view = cut.view()
            if (view.state, view.counter, view.data) != (state, before.counter, before.data):
                raise Deviation(f"SELECT shows {view.describe()}; the card is {before.describe()}")
            return
        if command == "READ BINARY":
            data = cut.read_file()
            if data != _DATA_AFTER[state]:
                raise Deviation(f"READ BINARY answered {data.hex()}, not the {state.name} data file")
            return
        if command == "WRITE BALLOT":
            apdu, ok_in, result = cut.write_apdu(), {CardState.ISSUED}, CardState.VOTED
        else:
            counter = before.counter + 1 if proof == "other-counter" else None  # a value the card is not at
            master = OTHER_MASTER_KEY if proof == "other-key" or cut.master_key is None else None
            if command == "ISSUE":
                apdu = cut.issue_apdu(before, counter=counter, master=master)
                ok_in, result = {CardState.BLANK}, CardState.ISSUED
            else:
                apdu = cut.clear_apdu(before, counter=counter, master=master)
                ok_in, result = {CardState.ISSUED, CardState.VOTED}, CardState.BLANK
        if privileged and proof != "valid":
            want = SW.SECURITY_STATUS_NOT_SATISFIED
        else:
            want = SW.OK if state in ok_in else SW.CONDITIONS_NOT_SATISFIED
        answer = cut.send(apdu)
        if answer.sw != want:
            raise Deviation(f"{command} answered {answer.sw:04X}; the contract says {want:04X}")
        if want == SW.OK:
            if command == "WRITE BALLOT" and answer.data != write_digest(TEST_BLOCK, TEST_RECORD):
                raise Deviation(f"WRITE BALLOT answered {answer.data.hex()}, not the digest of what it stores")
            _became(cut, before, result, _DATA_AFTER[result], command)
        else:
            if answer.data:
                raise Deviation(f"{command} answered {answer.sw:04X} with data")
            _unchanged(cut, before, command)

    CLAUSES.append(Clause(cid, title, run, needs_key=needs_key))


def _unselected_clause(command: str, state: CardState) -> None:
    cid = f"matrix.{command.lower().replace(' ', '-')}.{state.name.lower()}.unselected"

    def run(cut: CardUnderTest) -> None:
        before = cut.in_state(state)
        apdu = {
            "READ BINARY": READ_ALL,
            "ISSUE": cut.issue_apdu(before, master=None if cut.master_key else OTHER_MASTER_KEY),
            "WRITE BALLOT": cut.write_apdu(),
            "CLEAR": cut.clear_apdu(before, master=None if cut.master_key else OTHER_MASTER_KEY),
        }[command]
        cut.reset()  # powered, not selected
        cut.expect(apdu, SW.CONDITIONS_NOT_SATISFIED, f"{command} before SELECT")
        _unchanged(cut, before, f"{command} before SELECT")

    CLAUSES.append(Clause(cid, f"{command} on a {state.name} card before SELECT", run,
                          needs_key=state is not CardState.BLANK))


for _state in _STATES:
    _matrix_clause("SELECT", _state, None)
    _matrix_clause("READ BINARY", _state, None)
    _matrix_clause("WRITE BALLOT", _state, None)
    for _proof in _PROOFS:
        _matrix_clause("ISSUE", _state, _proof)
        _matrix_clause("CLEAR", _state, _proof)
    for _command in ("READ BINARY", "ISSUE", "WRITE BALLOT", "CLEAR"):
        _unselected_clause(_command, _state)


# -- SELECT ------------------------------------------------------------------------


@clause("select.answer", "SELECT (P2 00) answers state, 8-byte serial and 3-byte counter")
def _select_answer(cut: CardUnderTest) -> None:
    cut.reset()
    data = cut.expect(SELECT_STATUS, SW.OK, "SELECT", length=1 + SERIAL_LENGTH + COUNTER_LENGTH)
    if data[0] not in iter(CardState):
        raise Deviation(f"SELECT answered state byte {data[0]:02X}: not 00, 01 or 02")


@clause("select.no-data", "SELECT with P2 0C answers no data and selects the application")
def _select_no_data(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT P2 0C", length=0)
    cut.expect(READ_ALL, SW.OK, "READ BINARY after SELECT P2 0C")


@clause("select.le", "SELECT's Le: absent gives no data, 01..0B gives 6700, 0C and FF give the 12 bytes")
def _select_le(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_STATUS[:-1], SW.OK, "SELECT without Le", length=0)
    cut.expect(SELECT_STATUS[:-1] + b"\x0b", SW.WRONG_LENGTH, "SELECT with Le 0B")
    cut.expect(SELECT_STATUS[:-1] + b"\x0c", SW.OK, "SELECT with Le 0C", length=STATUS_LENGTH)
    cut.expect(SELECT_STATUS[:-1] + b"\xff", SW.OK, "SELECT with Le FF", length=STATUS_LENGTH)


@clause("select.other-aid", "SELECT of another AID (v1's, v3's, a truncated one) answers 6A82 and deselects")
def _select_other(cut: CardUnderTest) -> None:
    for name, aid in (("v1", AID_V1), ("v3", AID_PREFIX + b"\x03"), ("truncated", AID_PREFIX)):
        cut.reset()
        cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
        cut.expect(bytes((0x00, Ins.SELECT, 0x04, 0x00, len(aid))) + aid + b"\x00", SW.FILE_NOT_FOUND,
                   f"SELECT of the {name} AID")
        cut.expect(READ_ALL, SW.CONDITIONS_NOT_SATISFIED, f"READ BINARY after a failed SELECT ({name} AID)")


@clause("select.p1p2", "SELECT with P1 other than 04 or P2 other than 00/0C answers 6A86")
def _select_p1p2(cut: CardUnderTest) -> None:
    cut.reset()
    for p1, p2 in ((0x00, 0x00), (0x04, 0x04), (0x04, 0x02), (0x02, 0x0C)):
        cut.expect(bytes((0x00, Ins.SELECT, p1, p2, len(AID))) + AID + b"\x00", SW.WRONG_P1P2,
                   f"SELECT P1 {p1:02X} P2 {p2:02X}")


@clause("select.serial-stable", "the serial is the same in every SELECT, across power cycles")
def _serial_stable(cut: CardUnderTest) -> None:
    cut.reset()
    serials = {cut.select()[1], cut.select()[1]}
    cut.reset()
    serials.add(cut.select()[1])
    if len(serials) != 1:
        raise Deviation(f"SELECT answered {len(serials)} different serials: {sorted(s.hex() for s in serials)}")


# -- order of the checks ------------------------------------------------------------


@clause("order.cla", "an unknown class answers 6E00, before anything else (even unselected)")
def _order_cla(cut: CardUnderTest) -> None:
    cut.reset()
    for apdu in ("A0A4040008" + AID.hex(), "01B0000000", "8410000000", "FF30000000"):
        cut.expect(bytes.fromhex(apdu), SW.CLA_NOT_SUPPORTED, f"{apdu[:8]}")


@clause("order.ins", "an instruction unknown for its class answers 6D00, before the selection check")
def _order_ins(cut: CardUnderTest) -> None:
    cut.reset()
    # v1's GET STATUS, GET CHALLENGE and EXTERNAL AUTHENTICATE are gone in v2
    for apdu in ("00CA000000", "8040000000", "0084000010", "0082000010" + "00" * 16, "0010000001AA",
                 "80A4040008" + AID.hex(), "80B0000000"):
        cut.expect(bytes.fromhex(apdu), SW.INS_NOT_SUPPORTED, f"{apdu[:8]}")


@clause("order.selection", "a command before SELECT answers 6985 before its P1/P2 and length are checked")
def _order_selection(cut: CardUnderTest) -> None:
    cut.reset()
    for apdu in ("80100100", "00B08000", "8030000107", "80200000"):
        cut.expect(bytes.fromhex(apdu), SW.CONDITIONS_NOT_SATISFIED, f"{apdu} unselected")


@clause("order.p1p2", "wrong P1/P2 answers 6A86 before the length is checked")
def _order_p1p2(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    for apdu in ("8010010000", "8030000101", "8020010000", "00B0800000", "00B08000"):
        cut.expect(bytes.fromhex(apdu), SW.WRONG_P1P2, apdu)


@clause("order.length-before-proof", "a wrong length answers 6700 before the proof is checked")
def _order_length(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    for apdu in ("80100000" + "08" + "00" * 8, "80300000" + "07" + "00" * 7, "80300000", "80100000"):
        cut.expect(bytes.fromhex(apdu), SW.WRONG_LENGTH, f"{apdu[:10]} with a bad proof")


@clause("order.proof-before-state", "a bad proof answers 6982 even where the state would refuse (6985)",
        needs_key=True)
def _order_proof(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.VOTED)
    cut.expect(cut.issue_apdu(view, master=OTHER_MASTER_KEY), SW.SECURITY_STATUS_NOT_SATISFIED,
               "ISSUE with a bad proof on a VOTED card")
    view = cut.in_state(CardState.BLANK)
    cut.expect(cut.clear_apdu(view, master=OTHER_MASTER_KEY), SW.SECURITY_STATUS_NOT_SATISFIED,
               "CLEAR with a bad proof on a BLANK card")


# -- Lc and Le ------------------------------------------------------------------------


@clause("lc.malformed", "an Lc that disagrees with the length, or extended length (Lc byte 00): 6700")
def _lc_malformed(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    for apdu in ("00A40400", "00A40400000008" + AID.hex(), "00A4040009" + AID.hex(), "00A4040006" + AID.hex(),
                 "00B0000001AA00", "8020000005AABB"):
        cut.expect(bytes.fromhex(apdu), SW.WRONG_LENGTH, apdu)


@clause("lc.short-header", "an APDU shorter than its 4-byte header answers 6700", needs_short_apdus=True)
def _lc_short(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    for apdu in ("", "00", "00B0", "00B000"):
        cut.expect(bytes.fromhex(apdu), SW.WRONG_LENGTH, f"{apdu or 'an empty APDU'}")


@clause("lc.issue", "ISSUE carries 1..64 bytes of issue block and the 8-byte proof (Lc 9..72), else 6700")
def _lc_issue(cut: CardUnderTest) -> None:
    cut.reset()
    _, serial, counter = cut.select()
    view = View(CardState.BLANK, serial, counter, b"")
    key = None if cut.master_key else OTHER_MASTER_KEY
    for block in (b"", b"\x11" * (MAX_ISSUE_BLOCK + 1), b"\x22" * 200):
        cut.expect(cut.issue_apdu(view, block, master=key), SW.WRONG_LENGTH,
                   f"ISSUE with a {len(block)}-byte issue block")


@clause("lc.write-ballot", "WRITE BALLOT without data answers 6700")
def _lc_write(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    cut.expect(bytes.fromhex("80200000"), SW.WRONG_LENGTH, "WRITE BALLOT without data")
    cut.expect(bytes.fromhex("8020000008"), SW.WRONG_LENGTH, "WRITE BALLOT with Le only")


@clause("lc.clear", "CLEAR carries exactly the 8-byte proof, else 6700")
def _lc_clear(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    for n in (0, 1, 7, 9, 16):
        apdu = bytes((0x80, Ins.CLEAR, 0, 0)) + (bytes((n,)) + bytes(n) if n else b"")
        cut.expect(apdu, SW.WRONG_LENGTH, f"CLEAR with {n} data bytes")


@clause("lc.read-binary", "READ BINARY takes no data and requires Le, else 6700")
def _lc_read(cut: CardUnderTest) -> None:
    cut.reset()
    cut.expect(SELECT_NO_DATA, SW.OK, "SELECT")
    cut.expect(bytes.fromhex("00B00000"), SW.WRONG_LENGTH, "READ BINARY without Le")
    cut.expect(bytes.fromhex("00B0000001AA"), SW.WRONG_LENGTH, "READ BINARY with data")


@clause("le.write-ballot", "WRITE BALLOT: Le 01..07 gives 6700 and writes nothing; Le absent writes and "
        "answers no data", needs_key=True)
def _le_write(cut: CardUnderTest) -> None:
    before = cut.in_state(CardState.ISSUED)
    cut.expect(cut.write_apdu(le=b"\x07"), SW.WRONG_LENGTH, "WRITE BALLOT with Le 07")
    _unchanged(cut, before, "WRITE BALLOT with Le 07")
    cut.expect(cut.write_apdu(le=b""), SW.OK, "WRITE BALLOT without Le", length=0)
    _became(cut, before, CardState.VOTED, _DATA_AFTER[CardState.VOTED], "WRITE BALLOT without Le")


@clause("le.ignored", "Le is ignored on ISSUE, CLEAR and SELECT P2 0C", needs_key=True)
def _le_ignored(cut: CardUnderTest) -> None:
    view = cut.blank()
    cut.expect(cut.issue_apdu(view) + b"\x00", SW.OK, "ISSUE with Le 00", length=0)
    view = cut.view()
    cut.expect(cut.clear_apdu(view) + b"\x10", SW.OK, "CLEAR with Le 10", length=0)
    cut.expect(SELECT_NO_DATA + b"\x00", SW.OK, "SELECT P2 0C with Le 00", length=0)


# -- READ BINARY -------------------------------------------------------------------


@clause("read.blank", "a BLANK card's data file is two zero lengths; reading past it answers 6B00", needs_key=True)
def _read_blank(cut: CardUnderTest) -> None:
    cut.in_state(CardState.BLANK)
    data = cut.expect(READ_ALL, SW.OK, "READ BINARY")
    if data != b"\x00\x00":
        raise Deviation(f"a BLANK card's data file is {data.hex()}, not 0000")
    cut.expect(bytes.fromhex("00B0000300"), SW.OFFSET_OUT_OF_RANGE, "READ BINARY at offset 3")


@clause("read.offsets", "READ BINARY returns min(Le, size - offset) from P1P2; offset > size answers 6B00; "
        "SFI addressing 6A86", needs_key=True)
def _read_offsets(cut: CardUnderTest) -> None:
    cut.in_state(CardState.VOTED)
    whole = data_file(TEST_BLOCK, TEST_RECORD)
    size = len(whole)
    for p1p2, le, want in ((5, 0x10, whole[5:21]), (0, 1, whole[:1]), (size - 3, 0, whole[-3:]), (size, 0, b"")):
        data = cut.expect(bytes((0x00, Ins.READ_BINARY, p1p2 >> 8, p1p2 & 0xFF, le)), SW.OK,
                          f"READ BINARY at {p1p2} Le {le:02X}")
        if data != want:
            raise Deviation(f"READ BINARY at {p1p2} Le {le:02X} answered {data.hex()}, expected {want.hex()}")
    for p1p2 in (size + 1, 0x7FFF):
        cut.expect(bytes((0x00, Ins.READ_BINARY, p1p2 >> 8, p1p2 & 0xFF, 0)), SW.OFFSET_OUT_OF_RANGE,
                   f"READ BINARY at {p1p2}")
    cut.expect(bytes.fromhex("00B0810000"), SW.WRONG_P1P2, "READ BINARY with SFI addressing")


# -- sizes, digest, persistence -------------------------------------------------------


@clause("write.digest", "WRITE BALLOT answers the first 8 bytes of SHA-256 of the data file it stores",
        needs_key=True)
def _write_digest(cut: CardUnderTest) -> None:
    record = bytes(range(1, 121))  # another record, another digest
    cut.in_state(CardState.ISSUED)
    data = cut.expect(cut.write_apdu(record, le=b"\x00"), SW.OK, "WRITE BALLOT with Le 00", length=DIGEST_LENGTH)
    if data != write_digest(TEST_BLOCK, record):
        raise Deviation(f"WRITE BALLOT answered {data.hex()}, the digest of what it should hold is "
                        f"{write_digest(TEST_BLOCK, record).hex()}")
    stored = cut.read_file()
    if stored != data_file(TEST_BLOCK, record):
        raise Deviation("the card stored something other than the record written")


@clause("write.largest", "the largest issue block (64) and record (255) are stored and read back whole "
        "(321 bytes: two READ BINARY)", needs_key=True)
def _largest(cut: CardUnderTest) -> None:
    block, record = b"\xaa" * MAX_ISSUE_BLOCK, b"\xbb" * MAX_RECORD
    view = cut.blank()
    cut.expect(cut.issue_apdu(view, block), SW.OK, "ISSUE of 64 bytes")
    cut.expect(cut.write_apdu(record), SW.OK, "WRITE BALLOT of 255 bytes", length=DIGEST_LENGTH)
    first = cut.expect(READ_ALL, SW.OK, "READ BINARY", length=256)
    rest = cut.expect(bytes.fromhex("00B0010000"), SW.OK, "READ BINARY at 256", length=65)
    if first + rest != data_file(block, record):
        raise Deviation("the 321-byte data file did not read back as written")


@clause("persist.power-cycle", "state, data and counter survive power off; the selection does not", needs_key=True)
def _persist(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.VOTED)
    cut.reset()
    cut.expect(READ_ALL, SW.CONDITIONS_NOT_SATISFIED, "READ BINARY right after power on")
    again = cut.view()
    if again != view:
        raise Deviation(f"after a power cycle the card is {again.describe()}, it was {view.describe()}")


@clause("clear.wipes", "CLEAR of a VOTED card leaves an empty data file", needs_key=True)
def _clear_wipes(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.VOTED)
    cut.expect(cut.clear_apdu(view), SW.OK, "CLEAR")
    if cut.read_file() != b"\x00\x00":
        raise Deviation("the data file is not empty after CLEAR")


# -- counter and proofs -------------------------------------------------------------------


@clause("counter.moves", "ISSUE, WRITE BALLOT and CLEAR each move the counter by one; refusals do not",
        needs_key=True)
def _counter_moves(cut: CardUnderTest) -> None:
    start = cut.blank()
    cut.expect(cut.write_apdu(), SW.CONDITIONS_NOT_SATISFIED, "WRITE BALLOT on a BLANK card")
    cut.expect(cut.clear_apdu(start), SW.CONDITIONS_NOT_SATISFIED, "CLEAR on a BLANK card")
    seen = [cut.select()[2]]
    cut.expect(cut.issue_apdu(start), SW.OK, "ISSUE")
    seen.append(cut.select()[2])
    cut.expect(cut.write_apdu(), SW.OK, "WRITE BALLOT", length=DIGEST_LENGTH)
    seen.append(cut.select()[2])
    cut.expect(cut.clear_apdu(cut.view()), SW.OK, "CLEAR")
    seen.append(cut.select()[2])
    want = [start.counter + i for i in (0, 1, 2, 3)]
    if seen != want:
        raise Deviation(f"the counter went {seen}; the contract says {want}")


@clause("proof.replay", "a recorded ISSUE replayed after the card was cleared answers 6982", needs_key=True)
def _proof_replay(cut: CardUnderTest) -> None:
    view = cut.blank()
    recorded = cut.issue_apdu(view)
    cut.expect(recorded, SW.OK, "ISSUE")
    cut.expect(cut.clear_apdu(cut.view()), SW.OK, "CLEAR")
    before = cut.view()
    cut.expect(recorded, SW.SECURITY_STATUS_NOT_SATISFIED, "the same ISSUE replayed on the BLANK card")
    _unchanged(cut, before, "the replayed ISSUE")


@clause("proof.once", "a proof authorises one privileged command: the same CLEAR sent twice answers 6982 "
        "the second time", needs_key=True)
def _proof_once(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.ISSUED)
    apdu = cut.clear_apdu(view)
    cut.expect(apdu, SW.OK, "CLEAR")
    cut.expect(apdu, SW.SECURITY_STATUS_NOT_SATISFIED, "the same CLEAR again")


@clause("proof.stale-after-write", "a CLEAR proof made while the card was ISSUED is refused once the ballot "
        "is written (6982)", needs_key=True)
def _proof_stale(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.ISSUED)
    early = cut.clear_apdu(view)
    cut.expect(cut.write_apdu(), SW.OK, "WRITE BALLOT", length=DIGEST_LENGTH)
    before = cut.view()
    cut.expect(early, SW.SECURITY_STATUS_NOT_SATISFIED, "CLEAR with the proof made before WRITE BALLOT")
    _unchanged(cut, before, "the stale CLEAR")


@clause("proof.other-card", "a proof under the same master key for another card's serial answers 6982",
        needs_key=True)
def _proof_other_card(cut: CardUnderTest) -> None:
    view = cut.blank()
    other = bytes(b ^ 0xFF for b in view.serial)
    proof = cut.proof(Ins.ISSUE, view.counter, TEST_BLOCK, serial=other)
    body = TEST_BLOCK + proof
    cut.expect(bytes((0x80, Ins.ISSUE, 0, 0, len(body))) + body, SW.SECURITY_STATUS_NOT_SATISFIED,
               "ISSUE with another card's proof")
    _unchanged(cut, view, "ISSUE with another card's proof")


@clause("proof.binds-command", "a proof made for ISSUE does not authorise CLEAR (6982)", needs_key=True)
def _proof_command(cut: CardUnderTest) -> None:
    view = cut.in_state(CardState.ISSUED)
    cut.expect(cut.clear_apdu(view, ins=Ins.ISSUE), SW.SECURITY_STATUS_NOT_SATISFIED,
               "CLEAR carrying an ISSUE proof")
    _unchanged(cut, view, "CLEAR carrying an ISSUE proof")


@clause("proof.binds-block", "an ISSUE proof made for one issue block does not authorise another (6982)",
        needs_key=True)
def _proof_block(cut: CardUnderTest) -> None:
    view = cut.blank()
    other = bytes(b ^ 0x01 for b in TEST_BLOCK)
    cut.expect(cut.issue_apdu(view, other, proof_block=TEST_BLOCK), SW.SECURITY_STATUS_NOT_SATISFIED,
               "ISSUE of a block the proof was not made for")
    _unchanged(cut, view, "ISSUE of a block the proof was not made for")


@clause("counter.persists", "the counter survives power off and a proof for the counter before it is refused "
        "after", needs_key=True)
def _counter_persists(cut: CardUnderTest) -> None:
    view = cut.blank()
    old_proof = cut.issue_apdu(view)
    cut.expect(old_proof, SW.OK, "ISSUE")
    cut.expect(cut.clear_apdu(cut.view()), SW.OK, "CLEAR")
    after = cut.fresh_view()
    if after.counter != view.counter + 2:
        raise Deviation(f"after two state changes and a power cycle the counter is {after.counter}, "
                        f"not {view.counter + 2}")
    cut.expect(old_proof, SW.SECURITY_STATUS_NOT_SATISFIED, "the first ISSUE replayed after power off")


# -- atomicity ------------------------------------------------------------------------


def _atomic_clause(command: str) -> None:
    start = {"ISSUE": CardState.BLANK, "WRITE BALLOT": CardState.ISSUED, "CLEAR": CardState.VOTED}[command]
    end = {"ISSUE": CardState.ISSUED, "WRITE BALLOT": CardState.VOTED, "CLEAR": CardState.BLANK}[command]

    def run(cut: CardUnderTest) -> None:
        torn = new_seen = 0
        for offset in _tear_offsets(cut):
            before = cut.in_state(start)
            apdu = {"ISSUE": lambda: cut.issue_apdu(before), "WRITE BALLOT": cut.write_apdu,
                    "CLEAR": lambda: cut.clear_apdu(before)}[command]()
            cut.arm_tear(offset)
            try:
                answer = cut.send(apdu)
            except CardRemovedError:
                torn += 1
                cut.reconnect()
                now = cut.view()
                old = before
                new = View(end, before.serial, before.counter + 1, _DATA_AFTER[end])
                if now == new:
                    new_seen += 1
                elif now != old:
                    raise Deviation(f"a power cut after {offset} bytes of {command} left {now.describe()}: "
                                    f"neither the old ({old.describe()}) nor the new ({new.describe()})") from None
                elif new_seen:
                    raise Deviation(f"a cut after {offset} bytes left the old data, an earlier cut the new: "
                                    "the commit point moved") from None
                continue
            if answer.sw != SW.OK:
                raise Deviation(f"{command} with a tear armed after {offset} bytes answered {answer.sw:04X}")
            break  # the cut lay beyond the command's writes: every earlier offset was tried
        else:
            raise Deviation(f"{command} was still cut after {offset} bytes: its writes never ended")
        if not torn or not new_seen:
            raise Deviation(f"{torn} cuts of {command}, {new_seen} of them after its commit point: "
                            "the tearing hook did not cut inside the command")

    CLAUSES.append(Clause(f"atomic.{command.lower().replace(' ', '-')}",
                          f"a power cut at any byte of {command} leaves the old state, data and counter or "
                          "the new ones", run, needs_key=True, needs_tear=True))


def _tear_offsets(cut: CardUnderTest) -> Iterator[int]:
    yield from range(0, 2048) if cut.every_byte else SAMPLED_TEAR_OFFSETS


for _command in ("ISSUE", "WRITE BALLOT", "CLEAR"):
    _atomic_clause(_command)


# --- running ---------------------------------------------------------------------------


def run_conformance(
    transport: Transport,
    master_key: bytes | None = None,
    *,
    every_byte: bool = False,
    short_apdus: bool = False,
    after_tear: Callable[[], None] | None = None,
    only: Callable[[str], bool] | None = None,
    progress: Callable[[ClauseResult], None] | None = None,
) -> ConformanceReport:
    """Run every clause against the card `transport` reaches (connected here).

    `master_key`: the station's card master key the card was personalised with;
    without it the clauses that write are skipped. `every_byte`: try a power cut
    at every byte offset instead of `SAMPLED_TEAR_OFFSETS` (in-process; through
    pcscd each cut costs a reinsertion). `after_tear`: called after a tear to
    put the card back (an in-process slot; a vpcd card comes back by itself).
    `short_apdus`: the transport can carry APDUs shorter than 4 bytes (PC/SC
    cannot: pcscd refuses an empty one and vpcd's framing takes a 1-byte one
    for a control code). `only(clause_id)` picks clauses; `progress(result)` is
    called after each."""
    started = time.perf_counter()
    cut = CardUnderTest(transport, master_key, after_tear, every_byte=every_byte)
    cut.reset()
    try:
        serial: bytes | None = cut.select()[1]
        tear = cut.has_tear_hook()
    except Deviation:  # not a v2 ballot card: every clause will say how
        serial, tear = None, False
    report = ConformanceReport(cut.atr, serial, tear, master_key is not None)
    try:
        for c in CLAUSES:
            if only is not None and not only(c.id):
                continue
            result = _run_clause(cut, c, tear, short_apdus)
            report.results.append(result)
            if progress is not None:
                progress(result)
    finally:
        if master_key is not None:
            try:
                cut.blank()
            except (CardError, Deviation, CannotRun):
                pass  # a card that cannot be cleared has failed clauses saying so
    report.seconds = time.perf_counter() - started
    return report


def _run_clause(cut: CardUnderTest, c: Clause, tear: bool, short_apdus: bool) -> ClauseResult:
    if c.needs_key and cut.master_key is None:
        return ClauseResult(c.id, c.title, Outcome.SKIP, "needs the station's card master key (--master-key)")
    if c.needs_tear and not tear:
        return ClauseResult(c.id, c.title, Outcome.SKIP,
                            "the card has no TEST TEAR hook (a production applet): tear it with a rig")
    if c.needs_short_apdus and not short_apdus:
        return ClauseResult(c.id, c.title, Outcome.SKIP,
                            "PC/SC cannot carry an APDU shorter than its header (tested in-process)")
    try:
        c.run(cut)
    except CannotRun as exc:
        return ClauseResult(c.id, c.title, Outcome.SKIP, str(exc))
    except Deviation as exc:
        return ClauseResult(c.id, c.title, Outcome.FAIL, str(exc))
    except CardRemovedError as exc:
        detail = f"the card left the reader or lost power: {exc}"
        try:
            cut.reconnect()
        except Deviation as lost:
            detail += f"; {lost}"
        return ClauseResult(c.id, c.title, Outcome.FAIL, detail)
    except CardError as exc:
        return ClauseResult(c.id, c.title, Outcome.FAIL, f"{type(exc).__name__}: {exc}")
    return ClauseResult(c.id, c.title, Outcome.PASS)
