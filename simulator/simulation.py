"""A whole polling day, end to end, with fault injection (`sailau simulate`).

For each of N synthetic voters: check-in at the ballot box, ISSUE of a blank
card, the card carried to the booth terminal, the vote through the terminal's
own `TerminalSession` (exactly the calls the kiosk makes), the card carried back
and cast. Then the polls are closed with k commission shares and the signed
protocol is compared with the ballots the voters intended.

Accounting (what "correct" means here):

- Every voter ends in one outcome. ACKNOWLEDGED: the ballot box answered
  "counted" or "already counted" (and nothing more: the receipt code is the
  booth's, the table learns nothing derived from the ballot; `lost` below checks
  each voter's code against the published list).
  COUNTED_UNACKNOWLEDGED: the ballot-box process died after its commit (at or
  during CLEAR), so the voter got no answer; the card came back BLANK, which only
  a CLEAR after the commit produces, and the voter checks the receipt code in the
  published list. REJECTED_CORRUPT: the card was corrupted on the way to the box
  and refused; a station gives one card per voter and cannot cancel a VOTED card,
  so this voter's ballot is not counted and the card stays outstanding in the
  protocol (issued - cast - cancelled). The report lists these explicitly.
  A crash of the ballot-box process while it issued a card costs no vote: the
  clerk replaces the card (`Station.replace_card`, see
  `PollingDay._after_issue_crash`), as a poll worker would, and the voter goes on
  (NOT_ISSUED_AFTER_CRASH stays in the outcome list and must be 0).
- Expected tally = the intended ballots of ACKNOWLEDGED and COUNTED_UNACKNOWLEDGED
  voters. Positions compared: every (contest, option) of the ballot style, plus
  (contest, against all) where the contest has it, (contest, blank) and (contest,
  invalid). `discrepancies` = positions whose protocol count differs.
- `lost` = voters expected counted whose receipt code is not in the published
  receipt list; `double_counted` = receipt codes listed more than once plus codes
  no voter of the day holds (a replayed, foreign or corrupted card that got in).
- `ballot_positions` = what VVSG means by it: every place on a tallied ballot
  where a vote can be marked (each option of each contest, against all where the
  law has it, and blank), i.e. ballots × positions per ballot. This is the unit
  counted towards the VVSG accuracy volume (1,549,703). `contest_selections`
  (ballots × contests: one recorded choice per contest) is also reported.
- `protocol_valid` = the protocol's station signature verifies against the
  station's key, no control relation is violated, and its counters equal what
  happened: voters checked in, ballots cast, cards cancelled (replacements with
  the card in hand), cards replaced and of those not handed back, and outstanding
  cards (issued - cast - cancelled) = tokens revoked after a crash during ISSUE +
  corrupted cards refused; and the published receipt list is the one the
  protocol's receipt commitment signs.

Paper (paper_day.py; `SimulationConfig.paper`, none by default, `sailau simulate`'s
`--paper/--mobile/--spoil/--count-mistakes`): voters who take a paper ballot at the
table (some spoil and exchange it), voters at home served by the mobile team when
half the table's voters are through (those not at home come in person at the end),
voters added to the additional list; the paper arrives under one signed act of
receipt. At close voting ends, two members enter the hand count, the second with
`mistakes` lines wrong: the desk must show exactly those lines and the station must
refuse to sign until they are corrected (`SimulationReport.double_entry_held`). A
majority of the five members then co-sign (one dissent). The expected combined tally
adds what the paper ballots in both boxes say (`PaperTally`, the simulator's own
ledger); every line of the paper protocol is compared with that ledger, and the
voters on the list, additional, on paper and outside with what happened.

The clerk is the ballot box's own `ClerkDesk` (ballot_box/desk.py), the object
the clerk app drives: the day checks voters in, inserts and removes cards, answers
the cancel offer and replaces cards through it, so the desk's rules (a blank card
waiting in the reader is issued to the voter checked in; a card cleared by a cast
stays in the reader for the next voter) are the ones the app runs.

Crashes are modelled in-process: the Station and its desk are discarded (the
database handle closed, the in-memory queue and reader state lost) and new ones
are opened over the same SQLite file, as a restarted process would; real SIGKILLs
of a station process are tested in tests/test_station_crash.py.
"""

from __future__ import annotations

import enum
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sailau.ballot_box import pollbook
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.desk import ClerkDesk, DeskStep
from sailau.ballot_box.models import BallotForm, PollsState
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.results import HandCountRefused
from sailau.ballot_box.station import ActionKind, CastStatus, ReplaceReason, Station, TerminalKey
from sailau.election import crypto
from sailau.election.ballot import Choice, Mark
from sailau.election.cosign import COSIGN_SUFFIX, check_cosignatures, read_cosignature_file
from sailau.election.members import CommissionMembers, Member, Role
from sailau.election.protocol import ProtocolSignatureError, validate_protocol, verify_signed_protocol
from sailau.election.receipts import read_receipt_list
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.election_kit import ElectionKit, demo_election, election_with_shares, template_election
from sailau.simulator.faults import (
    CRASH_POINTS,
    NO_FAULTS,
    CrashSwitch,
    FaultLedger,
    FaultSpec,
    FaultyCard,
    StationCrash,
    clone_card,
    corrupt_card,
    foreign_card,
    tear_point,
)
from sailau.simulator.paper_day import (
    MOBILE_REASONS,
    NO_PAPER,
    Form,
    PaperShares,
    PaperTally,
    ballots_to_receive,
    mark_paper,
    with_mistakes,
)
from sailau.simulator.pollbook_gen import BallotPlan, SimVoter, generate_voters, write_pollbook_csv
from sailau.simulator.readers import InProcessSlot, PcscSlot, ReaderSlot
from sailau.smartcard.apdu import CardState
from sailau.terminal.session import CardCheck, CastOutcome, TerminalConfig, TerminalSession

#: The precinct commission of a simulated day (fictional people), in the protocol's order.
MEMBER_ROLES = (Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY, Role.MEMBER, Role.MEMBER)
MEMBER_NAMES = ("Серікова Әсел Нұрланқызы", "Жақсылықов Ерлан Болатұлы", "Ким Ирина Викторовна",
                "Беков Дәурен Асқарұлы", "Омарова Гүлнар Сейітқызы")
#: Members who co-sign the protocol (a majority of five; the last one is away), and the one who dissents.
COSIGNERS = 4
DISSENT = "Бір бюллетень даулы болды: екі белгі қойылған, жарамсыз деп танылды."  # one disputed paper ballot

#: The VVSG 2005 / 1.0 accuracy test volume, in ballot positions.
VVSG_POSITIONS = 1_549_703
MAX_ATTEMPTS = 12  # re-insertions of one card for one step before the day is declared broken
PCSC_PORTS = (35963, 35964)  # ballot box, terminal


class SimulationError(RuntimeError):
    """The polling day went somewhere no fault explains (a bug in a component or here)."""


class Outcome(enum.StrEnum):
    ACKNOWLEDGED = "acknowledged"
    COUNTED_UNACKNOWLEDGED = "counted_unacknowledged"
    REJECTED_CORRUPT = "rejected_corrupt"
    NOT_ISSUED_AFTER_CRASH = "not_issued_after_crash"
    PAPER = "paper"  # a paper ballot at the table, in the stationary box (paper_day.py)
    OUTSIDE = "outside"  # voted at home, into the mobile box


COUNTED = (Outcome.ACKNOWLEDGED, Outcome.COUNTED_UNACKNOWLEDGED)


@dataclass(frozen=True)
class SimulationConfig:
    voters: int
    seed: int = 0
    election: Path | None = None  # default: the demo election with fresh keys
    shares_dir: Path | None = None  # with `election`: use it as is, closed with these shares
    precinct: int | None = None  # default: the first precinct of the election
    pcsc: bool = False
    faults: FaultSpec = NO_FAULTS
    party_shares: Mapping[str, float] | None = None  # default: 2021 national result
    workdir: Path | None = None  # default: a temporary directory, removed afterwards
    out_dir: Path | None = None  # protocol outputs; default workdir/protocol
    # paper voters, the mobile box, hand-count mistakes (paper_day.py); the library's default is a
    # day of cards only (benches, fault tests), `sailau simulate` passes `paper_day.DAY_SHARES`
    paper: PaperShares = NO_PAPER


@dataclass(frozen=True)
class PositionDiff:
    contest: str
    position: str  # option id, "against_all", "blank" or "invalid"
    intended: int
    tallied: int


@dataclass
class SimulationReport:
    voters: int
    checked_in: int
    issued: int
    cast: int
    cancelled: int
    protocol_valid: bool
    discrepancies: int
    lost: int
    double_counted: int
    ballot_positions: int
    faults: FaultLedger
    timings: dict[str, float]
    outstanding: int = 0
    replaced: int = 0  # cards replaced after a crash while issuing
    not_returned: int = 0  # of which the card held no token (its token revoked)
    contest_selections: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    fraud_accepted: int = 0
    station_restarts: int = 0
    diffs: list[PositionDiff] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why protocol_valid is False, if it is
    election_id: str = ""
    election_origin: str = ""
    precinct: int = 0
    mode: str = "in-process"
    protocol_file: Path | None = None
    paper: dict[str, int] = field(default_factory=dict)  # the paper protocol's figures as the day produced them
    mobile: dict[str, int] = field(default_factory=dict)  # requests, trips, voted outside, not at home
    hand_count: dict[str, object] = field(default_factory=dict)  # entries, mistakes injected / caught, signing blocked
    cosign: dict[str, object] = field(default_factory=dict)  # members, co-signed, dissents, majority

    def to_json(self) -> dict[str, object]:
        """Exactly the `--json` document of `sailau simulate`."""
        return {
            "voters": self.voters, "checked_in": self.checked_in, "issued": self.issued, "cast": self.cast,
            "cancelled": self.cancelled, "protocol_valid": self.protocol_valid,
            "discrepancies": self.discrepancies, "lost": self.lost, "double_counted": self.double_counted,
            "ballot_positions": self.ballot_positions, "faults_injected": self.faults.as_dict(),
            "paper": dict(self.paper), "mobile": dict(self.mobile), "hand_count": dict(self.hand_count),
            "cosign": {k: v for k, v in self.cosign.items() if k != "problems"},
            "timings": dict(self.timings),
        }

    @property
    def double_entry_held(self) -> bool:
        """Every hand-count mistake entered was shown as a differing line, no other line
        was, and the station refused to sign until it was corrected."""
        hc = self.hand_count
        injected = hc.get("mistakes_injected", 0)
        return (hc.get("mistakes_caught", 0) == injected and not hc.get("lines_shown_not_wrong", 0)
                and (not injected or bool(hc.get("signing_blocked"))))

    @property
    def ok(self) -> bool:
        return (self.protocol_valid and not self.discrepancies and not self.lost and not self.double_counted
                and not self.fraud_accepted and self.double_entry_held
                and (not self.cosign or bool(self.cosign.get("majority"))))


@dataclass
class FaultPlan:
    """The faults one voter meets (drawn before the voter starts; tests may force one)."""

    tear: str | None = None  # terminal:write | box:issue | box:clear
    pull: str | None = None  # terminal:read | terminal:answer | box:read
    crash: str | None = None  # a CRASH_POINTS entry
    corrupt: bool = False
    replay: bool = False
    foreign: str | None = None  # terminal | box


@dataclass
class _Voter:
    voter: SimVoter
    intended: dict[str, Choice]
    receipt: str | None = None
    outcome: Outcome | None = None
    form: Form = Form.CARD
    spoils: bool = False  # a paper voter who spoils the first ballot and exchanges it
    additional: bool = False  # not on the list: added to the additional list at the table
    paper: dict[str, str] | None = None  # what the paper ballot put in a box says (paper_day.mark_paper)


class PollingDay:
    """One precinct's polling day. `run()` returns the report; see the module doc."""

    def __init__(self, config: SimulationConfig, kit: ElectionKit, workdir: Path,
                 progress: Callable[[int, int], None] | None = None,
                 plan_for: Callable[[int], FaultPlan | None] | None = None) -> None:
        self.config = config
        self.kit = kit
        self.election = kit.election
        self.workdir = workdir
        self.progress = progress or (lambda done, total: None)
        self.plan_for = plan_for  # voter index -> a forced FaultPlan (None: draw one)
        self.precinct = config.precinct or self.election.precincts[0].number
        self.style = self.election.precinct(self.precinct).style
        self.contests = self.election.contests_for_style(self.style)
        seed = config.seed
        self.rng_faults = random.Random(f"sailau-sim:{seed}:faults")
        voters = generate_voters(config.voters, random.Random(f"sailau-sim:{seed}:voters"),
                                 polling_day=self.election.date)
        plan = BallotPlan.for_style(self.election, self.style, config.party_shares)
        rng_ballots = random.Random(f"sailau-sim:{seed}:ballots")
        self.voters = [_Voter(v, plan.draw(rng_ballots)) for v in voters]
        self._draw_forms(random.Random(f"sailau-sim:{seed}:paper"))
        self.tally = PaperTally()
        self.handcount: dict[str, object] = {}
        self.cosigned: dict[str, object] = {}
        self.trips = 0
        self.mistake_lines: list[str] = []
        self.caught_lines: list[str] = []
        self.ledger = FaultLedger()
        self.crash = CrashSwitch()
        self.terminal_key = crypto.generate_signing_key()
        self.station_key = crypto.generate_signing_key()
        self.member_keys = [crypto.generate_signing_key() for _ in MEMBER_ROLES]
        self.members = tuple(Member(self.precinct, role, name, crypto.ed25519_public_bytes(k.public_key()))
                             for role, name, k in zip(MEMBER_ROLES, MEMBER_NAMES, self.member_keys))
        self.member_names = [m.name for m in self.members]
        self.master_key = self.rng_faults.randbytes(16)
        self.db_url = f"sqlite:///{workdir / 'station.db'}"
        self.out_dir = config.out_dir or workdir / "protocol"
        self.restarts = 0
        self.cancels = 0  # cards cancelled by a replacement with the card in hand (see _after_issue_crash)
        self.replacements = 0
        self.revoked_tokens = 0  # replacements without the card: their tokens (on no card) revoked
        self.fraud_accepted = 0
        self._pending_tear = ""
        # One card circulates (a refused card is replaced); after a cast it stays in the
        # ballot box's reader and is issued to the next voter there.
        self.pool: list[FaultyCard] = [self._new_card()]
        self._issue_len = 55
        self._record_len = 121 + self.election.plaintext_length
        self.db: StationDB | None = None
        self.station: Station | None = None
        self.desk: ClerkDesk | None = None
        self._in_box: FaultyCard | None = None  # the card in the ballot box's reader
        self.box: ReaderSlot
        self.term: ReaderSlot

    def _draw_forms(self, rng: random.Random) -> None:
        """Who takes paper, who asks to vote outside (and is not at home when the team
        comes), who spoils a ballot, who is not on the list: drawn up front from their
        own stream, so the day's card faults and ballots do not shift with them."""
        shares = self.config.paper
        for v in self.voters:
            roll_mobile, roll_home, roll_paper, roll_spoil, roll_extra = (rng.random() for _ in range(5))
            if roll_mobile < shares.mobile:
                v.form = Form.NOT_HOME if roll_home < shares.not_home else Form.OUTSIDE
            else:
                v.form = Form.PAPER if roll_paper < shares.paper else Form.CARD
                v.additional = roll_extra < shares.additional
            v.spoils = v.form in (Form.PAPER, Form.OUTSIDE) and roll_spoil < shares.spoil
        self.rng_paper = rng

    # -- set-up ------------------------------------------------------------------------

    def _new_card(self) -> FaultyCard:
        return FaultyCard(VirtualBallotCard(serial=self.rng_faults.randbytes(8), master_key=self.master_key))

    def _open_station(self) -> Station:
        self.db = open_station_db(self.db_url)
        self.station = Station.attach(self.db, self.election, self.station_key, self.master_key,
                                      fault_hook=self.crash)
        self.desk = ClerkDesk(self.station, self._box_card, out_dir=self.out_dir)
        return self.station

    def _box_card(self) -> nullcontext:
        """The desk's card opener: the ballot box's reader client, connected at insertion."""
        return nullcontext(self.box.client)

    def _box_insert(self, card: FaultyCard) -> None:
        """Put `card` into the ballot box's reader (a card already there is taken out) and
        tell the desk, as the reader's events would; call `desk.read_card()` next."""
        assert self.desk is not None
        if self._in_box is not None and self._in_box is not card:
            self.desk.card_removed()
        self.box.insert(card)
        self._in_box = card
        self.desk.card_inserted()

    def _box_remove(self) -> None:
        self.box.remove()
        if self._in_box is not None:
            self._in_box = None
            assert self.desk is not None
            self.desk.card_removed()

    def _box_read(self, card: FaultyCard) -> DeskStep:
        self._box_insert(card)
        assert self.desk is not None
        return self.desk.read_card()

    def _restart_station(self) -> Station:
        """The ballot-box process died: its DB handle and in-memory session go; a new one opens."""
        self.box.remove()
        self._in_box = None
        assert self.db is not None
        self.db.close()
        self.restarts += 1
        return self._open_station()

    def _setup(self) -> None:
        csv = write_pollbook_csv([v.voter for v in self.voters if not v.additional], self.workdir / "pollbook.csv")
        self.db = open_station_db(self.db_url)
        station = Station(self.db, self.election, self.precinct, self.station_key, self.master_key,
                          fault_hook=self.crash)
        pollbook.import_voters(self.db, csv)
        station.load_members(CommissionMembers(self.precinct, self.members))
        station.open_polls([TerminalKey(crypto.ed25519_public_bytes(self.terminal_key.public_key()), "booth 1")])
        self.station = station
        self.desk = ClerkDesk(station, self._box_card, out_dir=self.out_dir)
        self.session = TerminalSession(TerminalConfig(self.election, self.precinct, self.terminal_key))
        self._paper_setup()
        if self.config.pcsc:
            self.box, self.term = PcscSlot("ballot box", PCSC_PORTS[0]), PcscSlot("terminal", PCSC_PORTS[1])
        else:
            self.box, self.term = InProcessSlot("ballot box"), InProcessSlot("terminal")

    def _paper_setup(self) -> None:
        """The paper ballots arrive (one signed act of receipt, enough for the day's
        drawn needs and a tenth spare) and the written requests to vote outside are
        recorded, before the first voter."""
        desk = self.desk
        assert desk is not None
        requesters = [v for v in self.voters if v.form in (Form.OUTSIDE, Form.NOT_HOME)]
        self.team_ballots = len(requesters) + 2 if requesters else 0
        needed = sum(1 + v.spoils for v in self.voters if v.form is Form.PAPER) + self.team_ballots
        count = ballots_to_receive(needed)
        if count:
            step = desk.receive_paper(count, "territorial election commission", self.member_names[2])
            if step.note is None or step.note.severity != "ok":
                raise SimulationError(f"paper ballots not received: {step.note}")
            self.tally.received += count
        for v in requesters:
            reason = self.rng_paper.choice(MOBILE_REASONS)
            step = desk.request_mobile(v.voter.iin, reason, self.member_names[2])
            if step.note is None or step.note.severity != "ok":
                raise SimulationError(f"voter {v.voter.iin}: request to vote outside not recorded: {step.note}")
            self.tally.requests += 1

    def _mobile_trip(self) -> None:
        """The mobile team (two members) goes out with the requests and counted ballots;
        each voter at home marks a paper ballot into the mobile box (one who spoils it
        gets another, while the team has one); the team comes back and says who voted,
        what is unused and what spoiled (voted + unused + spoiled = taken)."""
        desk = self.desk
        assert desk is not None
        requesters = [v for v in self.voters if v.form in (Form.OUTSIDE, Form.NOT_HOME)]
        if not requesters:
            return
        team = [self.member_names[3], self.member_names[4]]
        step = desk.send_mobile_team(team, self.team_ballots, [v.voter.iin for v in requesters])
        if step.trip is None:
            raise SimulationError(f"the mobile team could not leave: {step.note}")
        self.trips += 1
        self.tally.taken_by_teams += self.team_ballots
        left = self.team_ballots
        voted: list[str] = []
        spoiled = 0
        for v in requesters:
            if v.form is Form.NOT_HOME:
                continue
            if v.spoils and left >= 2:
                spoiled += 1
                left -= 1
            v.paper = mark_paper(v.intended, self.rng_paper, self.config.paper.invalid)
            self.tally.mobile.append(v.paper)
            v.outcome = Outcome.OUTSIDE
            left -= 1
            voted.append(v.voter.iin)
        step = desk.return_mobile_team(step.trip.id, voted, left, spoiled)
        if step.trip is None:
            raise SimulationError(f"the mobile team's return was refused: {step.note}")
        self.tally.issued_outside += len(voted)
        self.tally.spoiled += spoiled
        self.tally.returned_unused += left

    def _serve_paper(self, v: _Voter) -> None:
        """A voter takes a paper ballot at the table (the pollbook records the form and
        nothing else), marks it in the booth, maybe spoils it and exchanges it, and puts
        it in the stationary box."""
        desk = self.desk
        assert desk is not None
        step = desk.check_in(v.voter.iin, form=BallotForm.PAPER)
        if step.voter is None:
            raise SimulationError(f"voter {v.voter.iin}: not given a paper ballot: {step.note}")
        self.tally.issued_in_station += 1
        if v.spoils:
            step = desk.exchange_paper(v.voter.iin)
            if step.note is None or step.note.severity != "ok":
                raise SimulationError(f"voter {v.voter.iin}: spoiled ballot not exchanged: {step.note}")
            self.tally.spoiled += 1
        v.paper = mark_paper(v.intended, self.rng_paper, self.config.paper.invalid)
        self.tally.stationary.append(v.paper)
        v.outcome = Outcome.PAPER

    def _add_to_list(self, v: _Voter) -> None:
        """A voter not on the list, with their documents: added to the additional list."""
        assert self.desk is not None
        p = v.voter
        step = self.desk.add_voter(p.iin, p.surname, p.given_name, "", p.birth_date)
        if step.voter is None:
            raise SimulationError(f"voter {p.iin}: not added to the additional list: {step.note}")

    # -- the day -----------------------------------------------------------------------

    def run(self) -> SimulationReport:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self._setup()
        timings["setup_s"] = time.perf_counter() - t0
        per_voter: list[float] = []
        t1 = time.perf_counter()
        try:
            # at the table in list order; the mobile team goes out when half of them are
            # served; those it did not find at home come in person at the end of the day
            table = [i for i, v in enumerate(self.voters) if v.form in (Form.CARD, Form.PAPER)]
            late = [i for i, v in enumerate(self.voters) if v.form is Form.NOT_HOME]
            half = len(table) // 2
            done = 0
            for n, i in enumerate(table + late):
                if n == half:
                    self._mobile_trip()
                v = self.voters[i]
                tv = time.perf_counter()
                forced = self.plan_for(i) if self.plan_for else None
                drawn = self._draw_plan()  # drawn even when forced, so the stream stays the same
                if v.additional:
                    self._add_to_list(v)
                if v.form is Form.PAPER:
                    self._serve_paper(v)
                else:
                    self._serve(v, forced or drawn)
                per_voter.append(time.perf_counter() - tv)
                done += 1
                self.progress(done, len(self.voters))
            if not table and not late:
                self._mobile_trip()
            self.progress(len(self.voters), len(self.voters))
            timings["polling_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            report = self._close()
            timings["close_s"] = time.perf_counter() - t2
        finally:
            self.box.close()
            self.term.close()
            if self.db is not None:
                self.db.close()
        timings["total_s"] = time.perf_counter() - t0
        if per_voter:
            ms = sorted(t * 1000 for t in per_voter)
            timings["voter_median_ms"] = statistics.median(ms)
            timings["voter_p95_ms"] = ms[int(0.95 * (len(ms) - 1))]
            timings["voters_per_s"] = len(ms) / timings["polling_s"] if timings["polling_s"] else 0.0
        report.timings = {k: round(val, 4) for k, val in timings.items()}
        return report

    def _draw_plan(self) -> FaultPlan:
        spec, rng = self.config.faults, self.rng_faults
        plan = FaultPlan()
        if not spec.any:
            return plan
        roll = {kind: rng.random() < spec.rate(kind) for kind in ("tear", "pull", "crash", "corrupt", "replay", "foreign")}
        plan.corrupt = roll["corrupt"]
        plan.replay = roll["replay"] and not plan.corrupt  # a clone of an uncorrupted card is the voter's own ballot
        if roll["tear"]:
            sites = ["terminal:write", "box:issue"] + ([] if plan.corrupt else ["box:clear"])
            plan.tear = rng.choice(sites)
        if roll["pull"]:
            plan.pull = rng.choice(["terminal:read", "terminal:answer", "box:read"])
        if roll["crash"]:
            points = [p for p in CRASH_POINTS if p.startswith("issue") or p in ("cast:start", "cast:read")] \
                if plan.corrupt else list(CRASH_POINTS)
            plan.crash = rng.choice(points)
        if roll["foreign"]:
            plan.foreign = rng.choice(["terminal", "box"])
        return plan

    def _serve(self, v: _Voter, plan: FaultPlan) -> None:
        if plan.foreign:
            self._foreign(plan.foreign)
        card = self.pool[0]
        if not self._issue(v, card, plan):
            return
        v.receipt = self._vote(v, card, plan)
        clone = None
        if plan.corrupt:
            where = corrupt_card(card, self.rng_faults)
            plan_where = where.split("[")[0]
        if plan.replay:
            clone = clone_card(card)
        self._cast(v, card, plan)
        if v.outcome is Outcome.REJECTED_CORRUPT:
            self.ledger.record("corrupt", plan_where, f"rejected_{self._last_reason}")
            self.pool[0] = self._new_card()  # the refused card is kept aside as evidence
        elif card.card.state is not CardState.BLANK:
            raise SimulationError(f"voter {v.voter.iin}: card {card.serial.hex()} is {card.card.state.name} after the cast")
        if clone is not None:
            self._replay(clone)

    # -- issue -------------------------------------------------------------------------

    def _issue(self, v: _Voter, card: FaultyCard, plan: FaultPlan) -> bool:
        """Check the voter in and issue them `card` through the desk; False if the voter
        cannot get a card. A blank card already waiting in the reader (cleared by the
        last cast) is issued at check-in, by the desk's rule; otherwise the clerk
        inserts it."""
        crash = plan.crash if plan.crash and plan.crash.startswith("issue") else None
        tear = plan.tear == "box:issue"
        move = "check_in"  # the clerk's next step: check_in, select (the card waits in the reader), insert
        for _ in range(MAX_ATTEMPTS):
            desk = self.desk
            assert desk is not None
            waiting = move != "insert" and desk.view().blank_card_waiting
            if not waiting:
                self._box_insert(card)
            # a fault stays armed until it fires (another fault may have cut the step short)
            if tear or crash == "issue:mid-write":
                card.arm_tear(tear_point(self.rng_faults, self._issue_len))
            if crash in ("issue:recorded", "issue:written"):
                self.crash.arm(crash)
            died: str | None = None
            step = DeskStep()
            try:
                if move == "check_in":
                    step = desk.check_in(v.voter.iin)
                    if step.voter is None:
                        raise SimulationError(f"voter {v.voter.iin}: not checked in: {step.note}")
                elif move == "select":
                    step = desk.select_voter(v.voter.iin)
                if not waiting:
                    step = desk.read_card()
            except StationCrash as exc:
                died = exc.point
            finally:
                card.disarm()
                self.crash.disarm()
            card_note = desk.view().card_note
            move = "insert"
            if died is None and step.issued is None and card_note is not None and card_note.code == "issue_failed":
                # the card lost power mid-ISSUE (the only tear here)
                self._box_remove()
                landed = "landed" if card.card.state is CardState.ISSUED else "lost"
                if crash == "issue:mid-write":
                    died = crash
                else:
                    tear = False
                    self._pending_tear = landed
                    continue  # same process: the same card is retried with the same token
            if died is not None:
                issued = self._after_issue_crash(v, card, died)
                crash, tear = None, False
                if issued:
                    self._box_remove()
                    return True
                continue
            if step.issued is not None:
                self._box_remove()
                if self._pending_tear:
                    ending = "reissued_same_token" if step.issued.reused_token else "reissued"
                    self.ledger.record("tear", "box:issue", f"{self._pending_tear}_{ending}")
                    self._pending_tear = ""
                return True
            kind = step.action.kind if step.action is not None else None
            if kind is ActionKind.NEED_VOTER:  # nobody selected (the queue is not stored): pick them
                move = "select"
                continue
            if kind is ActionKind.REMOVED:
                self._box_remove()
                continue
            raise SimulationError(f"voter {v.voter.iin}: a blank card for issue was handled as {kind} "
                                  f"({card_note.code if card_note else 'no note'})")
        raise SimulationError(f"voter {v.voter.iin}: no card issued after {MAX_ATTEMPTS} insertions")

    def _after_issue_crash(self, v: _Voter, card: FaultyCard, point: str) -> bool:
        """The ballot-box process died while issuing. Its token was recorded (and the voter
        marked as holding a card) first, so the restarted station refuses this voter a
        card; the clerk replaces it (`Station.replace_card`, reason issue_interrupted):

        - the card is ISSUED (the write landed): the clerk hands it back (the restarted
          station cannot tell it from any other issued card): its token is cancelled and
          the card cleared;
        - the card is BLANK: the recorded token never reached a card and nobody can name
          it from the card: the clerk confirms the card is not handed back and the station
          revokes the token the voter's card link names (had the write landed after all,
          that card would be refused).

        Either way the voter is selected again: a card handed back is cleared in the
        reader and the desk issues it to them at once (True); else the issue loop
        gives them the card (False).
        """
        self._restart_station()
        desk = self.desk
        assert desk is not None
        self._pending_tear = ""
        if card.card.state is CardState.ISSUED:
            offered = self._box_read(card)  # an issued card: the desk offers to cancel it; the clerk replaces instead
            if offered.action is None or offered.action.kind is not ActionKind.OFFER_CANCEL:
                raise SimulationError(f"voter {v.voter.iin}: the issued card was read as {offered}")
            desk.decline_cancel()
            step = desk.replace_in_reader(v.voter.iin, ReplaceReason.ISSUE_INTERRUPTED)
            result = step.replaced
            if result is None or not (result.card_returned and result.card_cleared):
                raise SimulationError(f"voter {v.voter.iin}: replacing the issued card left {result or step.note}")
            self.cancels += 1
            ending = "restart_card_replaced_returned"
        else:
            step = desk.replace_not_returned(v.voter.iin, ReplaceReason.ISSUE_INTERRUPTED)
            if step.replaced is None:
                raise SimulationError(f"voter {v.voter.iin}: replacement refused: {step.note}")
            self.revoked_tokens += 1
            ending = "restart_card_replaced_token_revoked"
        self.replacements += 1
        self.ledger.record("crash", point, ending)
        return step.issued is not None

    # -- the booth -----------------------------------------------------------------------

    def _vote(self, v: _Voter, card: FaultyCard, plan: FaultPlan) -> str:
        session, term = self.session, self.term
        term.insert(card, connect=False)
        if plan.pull == "terminal:read":
            card.arm_pull(self.rng_faults.randrange(2))  # SELECT, READ BINARY
        inserted = session.on_card_inserted(term.client)
        fired = card.pulled
        card.disarm()
        if fired:
            if inserted.check is not CardCheck.UNREADABLE:
                raise SimulationError(f"card pulled while the terminal read it, yet the check was {inserted.check}")
            session.on_card_removed()
            term.insert(card, connect=False)
            inserted = session.on_card_inserted(term.client)
            self.ledger.record("pull", "terminal:read", "reinserted_voted")
        if inserted.check is not CardCheck.ACCEPTED:
            raise SimulationError(f"voter {v.voter.iin}: the terminal refused the card: {inserted.check} {inserted.detail}")
        session.vote(v.intended, language=v.voter.language)
        if plan.tear == "terminal:write":
            card.arm_tear(tear_point(self.rng_faults, self._record_len))
        if plan.pull == "terminal:answer":
            card.arm_pull(0, answer_lost=True)  # WRITE BALLOT lands, its digest never reaches the terminal
        result = session.cast()
        card.disarm()
        fault = ("tear", "terminal:write") if plan.tear == "terminal:write" else \
            ("pull", "terminal:answer") if plan.pull == "terminal:answer" else None
        for _ in range(MAX_ATTEMPTS):
            if result.outcome is not CastOutcome.INTERRUPTED:
                break
            session.on_card_removed()  # the voter sees "put the card back" and does
            term.insert(card, connect=False)
            back = session.on_card_inserted(term.client)
            if back.check is CardCheck.STILL_ISSUED:
                session.vote(v.intended, language=v.voter.language)
                result = session.cast()
                ending = "still_issued_voted_again"
            elif back.check is CardCheck.WRITE_COMPLETED:
                assert back.receipt_code is not None
                result = type(result)(CastOutcome.WRITTEN, receipt_code=back.receipt_code)
                ending = "write_completed"
            else:
                raise SimulationError(f"voter {v.voter.iin}: card back after an interrupted write: {back.check}")
            if fault is not None:
                self.ledger.record(fault[0], fault[1], ending)
                fault = None
        if result.outcome is not CastOutcome.WRITTEN or result.receipt_code is None:
            raise SimulationError(f"voter {v.voter.iin}: the terminal could not write the ballot: {result.detail}")
        if fault is not None:
            raise SimulationError(f"voter {v.voter.iin}: injected {fault} never fired")
        term.remove()
        session.on_card_removed()
        return result.receipt_code

    # -- cast --------------------------------------------------------------------------

    def _cast(self, v: _Voter, card: FaultyCard, plan: FaultPlan) -> None:
        crash = plan.crash if plan.crash and plan.crash.startswith("cast") else None
        tear = plan.tear == "box:clear"
        pull = plan.pull == "box:read"
        fired: list[tuple[str, str]] = []  # (kind, site) of the faults that fired
        acked = False
        self._last_reason = ""
        for _ in range(MAX_ATTEMPTS):
            self._box_insert(card)
            # a fault stays armed until it fires (another fault may have cut the step short)
            if tear or crash == "cast:mid-clear":
                card.arm_tear(tear_point(self.rng_faults, self._issue_len + self._record_len))
            if pull:
                card.arm_pull(self.rng_faults.randrange(2))  # SELECT, READ BINARY
            if crash and crash != "cast:mid-clear":
                self.crash.arm(crash)
            torn = False
            try:
                step = self.desk.read_card()  # type: ignore[union-attr]
            except StationCrash as died:
                fired.append(("crash", died.point))
                crash = None
                self._restart_station()
                continue
            finally:
                if card.pulled and pull:
                    pull = False
                    fired.append(("pull", "box:read"))
                torn = card.card.tear_after_bytes is None and (tear or crash == "cast:mid-clear")
                card.disarm()
                self.crash.disarm()
            action = step.action
            if action is None and step.note is not None and step.note.code == "card_pulled":
                self._box_remove()  # pulled before the station saw the card's state
                continue
            if action is None:
                raise SimulationError(f"voter {v.voter.iin}: the desk could not read the voted card: {step.note}")
            if action.kind is ActionKind.REMOVED:  # pulled before the station saw the card's state
                self._box_remove()
                continue
            if torn and crash == "cast:mid-clear":
                # the process died while the card was being cleared: nobody saw this answer
                crash = None
                fired.append(("crash", "cast:mid-clear"))
                self._restart_station()
                continue
            if torn:
                tear = False
                fired.append(("tear", "box:clear"))
            if action.kind is ActionKind.NEED_VOTER:
                # BLANK: the CLEAR (which only follows the commit) landed but nobody saw the answer.
                if not acked:
                    v.outcome = Outcome.COUNTED_UNACKNOWLEDGED
                break  # the blank card stays in the ballot box's reader for the next voter
            if action.kind is not ActionKind.CAST or action.cast is None:
                raise SimulationError(f"voter {v.voter.iin}: voted card handled as {action.kind}")
            result = action.cast
            if result.status in (CastStatus.ACCEPTED, CastStatus.ALREADY_COUNTED):
                acked = True
                v.outcome = Outcome.ACKNOWLEDGED
                if result.card_cleared:
                    break  # the blank card stays in the ballot box's reader for the next voter
                self._box_remove()
                continue  # the card is still VOTED (or its CLEAR landed unseen): insert it again
            if result.reason is not None and result.reason.value == "card_removed":
                self._box_remove()
                continue
            if plan.corrupt:
                self._last_reason = result.reason.value if result.reason else "rejected"
                v.outcome = Outcome.REJECTED_CORRUPT
                self._box_remove()
                break
            raise SimulationError(f"voter {v.voter.iin}: ballot refused: {result.reason} {result.message}")
        else:
            raise SimulationError(f"voter {v.voter.iin}: card not cast after {MAX_ATTEMPTS} insertions")
        ending = v.outcome.value if v.outcome else "none"
        for kind, site in fired:
            self.ledger.record(kind, site, f"reinserted_{ending}" if kind != "crash" else f"restart_{ending}")

    # -- fraud -------------------------------------------------------------------------

    def _replay(self, clone: FaultyCard) -> None:
        """A clone of a card already counted: must be "already counted" (same token), never accepted."""
        step = self._box_read(clone)
        self._box_remove()
        result = step.action.cast if step.action is not None else None
        if result is None:
            raise SimulationError(f"clone of a voted card handled as {step.action or step.note}")
        if result.status is CastStatus.ACCEPTED:
            self.fraud_accepted += 1
            self.ledger.record("replay", "box", "ACCEPTED")
        elif result.status is CastStatus.ALREADY_COUNTED:
            self.ledger.record("replay", "box", "already_counted")
        else:
            self.ledger.record("replay", "box", f"rejected_{result.reason.value if result.reason else 'unknown'}")

    def _foreign(self, site: str) -> None:
        fc = foreign_card(self.election, self.precinct, self.rng_faults, voted=(site == "box"))
        if site == "terminal":
            self.term.insert(fc.card, connect=False)
            check = self.session.on_card_inserted(self.term.client).check
            self.term.remove()
            self.session.on_card_removed()
            if check in (CardCheck.ACCEPTED, CardCheck.STILL_ISSUED):
                self.fraud_accepted += 1
                self.ledger.record("foreign", f"terminal:{fc.origin}", "ACCEPTED")
            else:
                self.ledger.record("foreign", f"terminal:{fc.origin}", f"refused_{check.value}")
            return
        step = self._box_read(fc.card)  # type: ignore[arg-type]
        self._box_remove()
        result = step.action.cast if step.action is not None else None
        if result is not None and result.counted:
            self.fraud_accepted += 1
            self.ledger.record("foreign", f"box:{fc.origin}", "ACCEPTED")
        else:
            reason = (result.reason.value if result is not None and result.reason else
                      step.action.kind.value if step.action is not None else step.note.code if step.note else "none")
            self.ledger.record("foreign", f"box:{fc.origin}", f"rejected_{reason}")

    # -- close and compare -----------------------------------------------------------------

    def _count_by_hand(self) -> None:
        """Voting ends (no shares yet); the members open the mobile box, then the
        stationary box, and count the paper ballots. Two members enter the count; the
        second slips on `mistakes` lines, the desk shows exactly those lines as
        differing and the station will not sign; the member enters it again, right."""
        desk, station = self.desk, self.station
        assert desk is not None and station is not None
        step = desk.end_voting()
        if station.polls_state is not PollsState.CLOSED:
            raise SimulationError(f"voting did not end: {step.note}")
        truth = self.tally.hand_count(self.election, self.style)
        first, second = self.members[2], self.members[3]
        desk.enter_hand_count(first.key_id, truth)
        wrong, self.mistake_lines = with_mistakes(truth, self.config.paper.mistakes, self.rng_paper, self.election)
        blocked = False
        if self.mistake_lines:
            desk.enter_hand_count(second.key_id, wrong)
            state = desk.view().hand_count
            if state is None:
                raise SimulationError("the desk shows no hand count after two entries")
            self.caught_lines = [d.line_key for d in state.differences]
            try:
                station.close_polls(list(self.kit.shares), self.out_dir)
            except HandCountRefused as exc:  # the station refuses to sign while the entries differ
                blocked = exc.reason is Refusal.HAND_COUNT_MISMATCH
        desk.enter_hand_count(second.key_id, truth)
        state = desk.view().hand_count
        if state is None or state.agreed != truth:
            raise SimulationError(f"the members' hand count is not agreed after the correction: {state}")
        self.handcount = {"entries": 3 if self.mistake_lines else 2, "mistakes_injected": len(self.mistake_lines),
                          "mistakes_caught": len(set(self.caught_lines) & set(self.mistake_lines)),
                          "lines_shown_not_wrong": len(set(self.caught_lines) - set(self.mistake_lines)),
                          "signing_blocked": blocked, "corrected": True}

    def _cosign(self, closing) -> None:  # ClosingResult
        """A majority of the members co-sign the signed protocol on this station with
        their own keys (the last of them with a dissenting opinion); the co-signatures
        are checked by the rule the commission applies."""
        desk = self.desk
        assert desk is not None
        keys = self.workdir / "members"
        keys.mkdir(exist_ok=True)
        for i in range(COSIGNERS):
            path = keys / f"member-{i + 1}.key"
            if not path.exists():
                crypto.save_signing_key(path, self.member_keys[i])
            step = desk.cosign(path, DISSENT if i == COSIGNERS - 1 else None)
            if step.note is None or step.note.severity not in ("ok", "info"):
                raise SimulationError(f"{self.members[i].name} could not co-sign: {step.note}")
        found = sorted(self.out_dir.glob(f"protocol.*{COSIGN_SUFFIX}"))
        check = check_cosignatures(closing.signed, [(str(f), read_cosignature_file(f)) for f in found], self.members)
        self.cosigned = {"members": len(self.members), "cosigned": len(check.valid), "dissents": len(check.dissents()),
                         "majority": check.majority, "problems": [str(f) for f in check.findings]}

    def _close(self) -> SimulationReport:
        station = self.station
        assert station is not None
        out_dir = self.out_dir
        paper_used = self.tally.received > 0 or self.tally.requests > 0
        if paper_used:
            self._count_by_hand()
        closing = station.close_polls(list(self.kit.shares), out_dir)
        protocol = closing.protocol
        self._cosign(closing)
        problems: list[str] = []
        station_pub = crypto.ed25519_public_bytes(self.station_key.public_key())
        try:
            verify_signed_protocol(closing.signed, {crypto.key_id(station_pub): station_pub})
        except ProtocolSignatureError as exc:
            problems.append(f"signature: {exc}")
        problems += [f"{v.name}: {v.message}" for v in validate_protocol(protocol, self.election)]

        outcomes = Counter(v.outcome for v in self.voters)
        if None in outcomes:
            raise SimulationError("a voter ended without an outcome")
        counted = [v for v in self.voters if v.outcome in COUNTED]
        corrupt = outcomes[Outcome.REJECTED_CORRUPT]
        at_table = [v for v in self.voters if v.form is not Form.OUTSIDE]
        expected = {
            "voters_on_list": len(self.voters),
            "voters_additional": sum(v.additional for v in self.voters),
            "voters_checked_in": len(at_table),
            "voters_paper": sum(v.form is Form.PAPER for v in self.voters),
            "voters_outside": sum(v.form is Form.OUTSIDE for v in self.voters),
            "ballots_cast": len(counted),
            "cards_cancelled": self.cancels,
            "cards_replaced": self.replacements,
            "cards_not_returned": self.revoked_tokens,
            "outstanding": self.revoked_tokens + corrupt,
        }
        actual = {
            "voters_on_list": protocol.voters_on_list, "voters_additional": protocol.voters_additional,
            "voters_checked_in": protocol.voters_checked_in, "voters_paper": protocol.voters_paper,
            "voters_outside": protocol.voters_outside, "ballots_cast": protocol.ballots_cast,
            "cards_cancelled": protocol.cards_cancelled, "cards_replaced": protocol.cards_replaced,
            "cards_not_returned": protocol.cards_not_returned,
            "outstanding": protocol.cards_issued - protocol.ballots_cast - protocol.cards_cancelled,
        }
        problems += [f"{k}: protocol {actual[k]}, the day {expected[k]}" for k in expected if actual[k] != expected[k]]

        diffs = self._compare(protocol, counted) + self._compare_paper(protocol)
        if self.cosigned.get("problems"):
            problems += [f"co-signatures: {p}" for p in self.cosigned["problems"]]  # type: ignore[union-attr]
        listed = read_receipt_list(out_dir / "receipts.json")
        if listed.commitment() != protocol.receipts:
            problems.append("receipts: the published receipt list is not the one the signed protocol commits to")
        published = Counter(listed.codes)
        held = Counter(v.receipt for v in counted)
        lost = sum(1 for code in held if published[code] == 0)
        double = sum(n - 1 for n in published.values() if n > 1) + sum(
            n for code, n in published.items() if code not in held)
        positions_per_ballot = sum(len(self.election.options(c.id)) + int(c.against_all) + 1 for c in self.contests)
        return SimulationReport(
            voters=len(self.voters), checked_in=protocol.voters_checked_in, issued=protocol.cards_issued,
            cast=protocol.ballots_cast, cancelled=protocol.cards_cancelled, protocol_valid=not problems,
            discrepancies=len(diffs), lost=lost, double_counted=double,
            ballot_positions=protocol.ballots_cast * positions_per_ballot, faults=self.ledger, timings={},
            outstanding=actual["outstanding"], replaced=protocol.cards_replaced,
            not_returned=protocol.cards_not_returned, contest_selections=protocol.ballots_cast * len(self.contests),
            outcomes={o.value: outcomes[o] for o in Outcome}, fraud_accepted=self.fraud_accepted,
            station_restarts=self.restarts, diffs=diffs, problems=problems, election_id=self.election.id,
            election_origin=self.kit.origin, precinct=self.precinct,
            mode="pcscd+vpcd" if self.config.pcsc else "in-process",
            protocol_file=closing.files.protocol if closing.files else None,
            paper=self._paper_figures(protocol), mobile=self._mobile_figures(), hand_count=dict(self.handcount),
            cosign=dict(self.cosigned),
        )

    def _paper_figures(self, protocol) -> dict[str, int]:
        """The day's paper figures, from the simulator's ledger (the protocol was compared
        with it line by line above: any difference is a discrepancy)."""
        t = self.tally
        paper = [v for v in self.voters if v.form is Form.PAPER]
        return {"voters_paper": len(paper), "received": t.received, "issued_in_station": t.issued_in_station,
                "issued_outside": t.issued_outside, "spoiled": t.spoiled, "unused": t.unused,
                "found_stationary": len(t.stationary), "found_mobile": len(t.mobile),
                "invalid_marks": sum(key == "invalid" for b in (*t.stationary, *t.mobile) for key in b.values()),
                "voters_additional": protocol.voters_additional}

    def _mobile_figures(self) -> dict[str, int]:
        return {"requests": self.tally.requests, "trips": self.trips, "taken": self.tally.taken_by_teams,
                "voted_outside": self.tally.issued_outside, "returned_unused": self.tally.returned_unused,
                "not_at_home_came_in_person": sum(v.form is Form.NOT_HOME for v in self.voters)}

    def _compare_paper(self, protocol) -> list[PositionDiff]:
        """The paper protocol, line by line, against the simulator's own ledger (contest
        "paper": the precinct lines; "paper:<contest>": that contest's paper results).
        No paper used: the protocol must carry no paper section."""
        t = self.tally
        if not (t.received or t.requests):
            return [] if protocol.paper is None else [PositionDiff("paper", "section", 0, 1)]
        if protocol.paper is None:
            return [PositionDiff("paper", "section", 1, 0)]
        pc = protocol.paper
        lines = {"received": t.received, "issued_in_station": t.issued_in_station, "issued_outside": t.issued_outside,
                 "spoiled": t.spoiled, "unused": t.unused, "mobile_requests": t.requests,
                 "found_stationary": len(t.stationary), "found_mobile": len(t.mobile)}
        diffs = [PositionDiff("paper", k, n, getattr(pc, k)) for k, n in lines.items() if getattr(pc, k) != n]
        signed = {c.contest_id: c for c in pc.contests}
        for mine in t.contests(self.election, self.style):
            theirs = signed.get(mine.contest_id)
            for pos, n in [*mine.votes.items(), ("against_all", mine.against_all), ("blank", 0), ("invalid", mine.invalid)]:
                got = 0 if theirs is None else theirs.votes.get(pos, 0) if pos in mine.votes else getattr(theirs, pos)
                if got != n:
                    diffs.append(PositionDiff(f"paper:{mine.contest_id}", pos, n, got))
        return diffs

    def _compare(self, protocol, counted: list[_Voter]) -> list[PositionDiff]:
        """The combined protocol (what the commission adds up) against the intentions of
        the counted card voters plus what the paper ballots in the boxes say."""
        intended: Counter[tuple[str, str]] = Counter()
        for v in counted:
            for cid, choice in v.intended.items():
                key = "blank" if choice is Mark.BLANK else "against_all" if choice is Mark.AGAINST_ALL else str(choice)
                intended[(cid, key)] += 1
        for ballot in (*self.tally.stationary, *self.tally.mobile):
            for cid, key in ballot.items():
                intended[(cid, key)] += 1
        tallied: dict[tuple[str, str], int] = {}
        for result in protocol.contests:
            for oid, n in result.votes.items():
                tallied[(result.contest_id, oid)] = n
            tallied[(result.contest_id, "blank")] = result.blank
            tallied[(result.contest_id, "invalid")] = result.invalid
            tallied[(result.contest_id, "against_all")] = result.against_all
        positions = []
        for c in self.contests:
            positions += [(c.id, o.id) for o in self.election.options(c.id)]
            positions += [(c.id, "blank"), (c.id, "invalid")] + ([(c.id, "against_all")] if c.against_all else [])
        return [PositionDiff(cid, pos, intended[(cid, pos)], tallied.get((cid, pos), 0))
                for cid, pos in positions if intended[(cid, pos)] != tallied.get((cid, pos), 0)]


def prepare_election(config: SimulationConfig, workdir: Path) -> ElectionKit:
    """The election for this run (see election_kit.py): demo, definition+shares, or template."""
    if config.election is None:
        if config.shares_dir is not None:
            raise ValueError("--shares needs --election (the definition those shares open)")
        return demo_election(workdir)
    if config.shares_dir is not None:
        return election_with_shares(config.election, config.shares_dir)
    return template_election(config.election, workdir)


def run_simulation(config: SimulationConfig, progress: Callable[[int, int], None] | None = None) -> SimulationReport:
    """Run one polling day (see the module doc) and return its report.

    With `config.pcsc` the caller holds pcscd and both vpcd reader slots
    (`sailau.simulator.pcsc_lease`, as `sailau simulate --pcsc` and the test fixtures do)."""
    if config.voters < 1:
        raise ValueError(f"a polling day needs at least one voter, got {config.voters}")
    owned = config.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="sailau-sim-")) if owned else Path(config.workdir)  # type: ignore[arg-type]
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        kit = prepare_election(config, workdir)
        report = PollingDay(config, kit, workdir, progress).run()
        if owned and config.out_dir is None:
            report.protocol_file = None  # removed with the temporary directory
        return report
    finally:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
