"""`sailau demo`: a whole polling station in one terminal window, for a newcomer.

`create_demo(workdir)` makes everything a precinct needs in a folder (the demo
election with a fresh key split 3 of 5 and a fresh registry root, the
commission's share files, station and terminal keys, the station registry signed
by that root, a card master key, a pollbook and the station database);
`DemoApp` shows the ballot-box clerk app and the booth kiosk side by side, each
the real, unchanged app running in an `AppPane`, with one virtual ballot card
between them and a "carry the card" control. A guide line says what to do next.

The precinct's commission (five members, each with an own key in
`commission/`, their members file beside them, loaded into the station) does
what the apps' screens leave to people, each step through the clerk's own desk
(`DemoCommission`): F10 takes a voter who asks for a paper ballot (the act of
receipt of 20 ballots first), F11 a voter at home (a written request, the mobile
team out with two ballots and back), and F12 the members' next step: at close,
two members enter the hand count of the paper ballots, the second slips on a
line, the double entry shows it and the station will not sign until the member
enters it again; after the protocol is signed, a majority co-signs it.

The card is one `VirtualBallotCard`. In-process, carrying it is
`InProcessSlot.insert/remove` on each app's reader; with `--pcsc` it is served
to the real pcscd through vpcd, one `VpcdBridge` per reader port, and carrying
it pulls it from "Virtual PCD 00 00" and inserts it into "Virtual PCD 00 01"
(or back); both apps then see it through pyscard like real hardware.
"""

from __future__ import annotations

import enum
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ed25519
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Static

from sailau.ballot_box import app as clerk_module
from sailau.ballot_box import pollbook
from sailau.ballot_box.app import ClerkApp
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.handcount import HandCount
from sailau.ballot_box.models import BallotForm, PollsState
from sailau.ballot_box.screens import CloseScreen, DeskScreen, OpenPollsScreen, ProtocolScreen
from sailau.ballot_box.station import Station, TerminalKey
from sailau.commission.registry import build_registry, sign_registry, write_registry
from sailau.election import crypto, secretfile
from sailau.election.definition import Election
from sailau.election.members import CommissionMembers, Member, Role, write_members_file
from sailau.election.shares import Share, write_share_file
from sailau.simulator.app_pane import AppPane, HostedApp
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.election_kit import demo_election
from sailau.simulator.paper_day import INVALID, PaperTally
from sailau.simulator.pollbook_gen import SimVoter, generate_voters, write_pollbook_csv
from sailau.smartcard.apdu import CardState
from sailau.smartcard.card_keys import master_key_file_bytes
from sailau.smartcard.events import CardEventCallback, InProcessSlot
from sailau.smartcard.transport import InProcessTransport, Transport
from sailau.terminal import app as kiosk_module
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import CardSource, InProcessCardSource
from sailau.terminal.session import Phase, TerminalConfig, TerminalSession
from sailau.terminal.speech import Speaker

__all__ = ["CardPlace", "DemoApp", "DemoKeys", "DemoKit", "create_demo", "InProcessCarrier", "PcscCarrier"]

DEMO_PRECINCT = 7101  # Astana: the Mäjilis list, the city maslikhat list and a district seat on one ballot
DEMO_VOTERS = 12
DEMO_SEED = 2021
DEMO_PAPER = 20  # paper ballots in the demo's act of receipt
#: The demo commission (fictional people), in the protocol's order.
DEMO_MEMBERS = ((Role.CHAIR, "Серікова Әсел Нұрланқызы"), (Role.DEPUTY_CHAIR, "Жақсылықов Ерлан Болатұлы"),
                (Role.SECRETARY, "Ким Ирина Викторовна"), (Role.MEMBER, "Беков Дәурен Асқарұлы"),
                (Role.MEMBER, "Омарова Гүлнар Сейітқызы"))
BOX_READER = "Virtual PCD 00 00"
BOOTH_READER = "Virtual PCD 00 01"


# --- the precinct in a folder ---------------------------------------------------------


@dataclass(frozen=True)
class DemoKeys:
    """The keys the demo makes (tests pass fixed ones so screens are reproducible)."""

    station_key: ed25519.Ed25519PrivateKey
    terminal_key: ed25519.Ed25519PrivateKey
    card_master_key: bytes
    member_keys: tuple[ed25519.Ed25519PrivateKey, ...] = ()  # the commission's, in DEMO_MEMBERS order (fresh if empty)

    @classmethod
    def fresh(cls) -> DemoKeys:
        return cls(crypto.generate_signing_key(), crypto.generate_signing_key(), secrets.token_bytes(16),
                   tuple(crypto.generate_signing_key() for _ in DEMO_MEMBERS))


@dataclass
class DemoKit:
    """Everything the demo precinct is made of; the paths are the files `create_demo` wrote."""

    workdir: Path
    election: Election
    precinct: int
    keys: DemoKeys
    shares: tuple[Share, ...]
    voters: list[SimVoter]
    election_path: Path
    share_paths: list[Path]
    station_key_path: Path
    terminal_key_path: Path
    terminal_pub_path: Path
    card_master_key_path: Path
    pollbook_path: Path
    out_dir: Path
    db: StationDB
    station: Station
    card: VirtualBallotCard = field(repr=False)
    members: tuple[Member, ...] = ()  # the precinct commission, in DEMO_MEMBERS order
    member_key_paths: tuple[Path, ...] = ()  # commission/member-N.key, one per member (0600)
    members_path: Path | None = None  # commission/members.json

    @property
    def terminal(self) -> TerminalKey:
        return TerminalKey(crypto.ed25519_public_bytes(self.keys.terminal_key.public_key()), "booth 1")

    def close(self) -> None:
        self.db.close()


def create_demo(workdir: Path, *, voters: int = DEMO_VOTERS, seed: int = DEMO_SEED,
                keys: DemoKeys | None = None) -> DemoKit:
    """Write a ready precinct into `workdir` (which must exist): polls not yet open,
    the voter list imported, one blank card personalised with the station's master key."""
    workdir = Path(workdir)
    keys = keys or DemoKeys.fresh()
    kit = demo_election(workdir)  # election.json, fresh election key, 3 of 5 shares
    election = kit.election
    election.precinct(DEMO_PRECINCT)  # fails loudly if the demo election lost the precinct

    share_dir = workdir / "shares"
    share_dir.mkdir(exist_ok=True)
    share_paths = []
    for share in kit.shares:
        path = share_dir / f"share-{share.index}.json"
        write_share_file(path, share)
        share_paths.append(path)
    station_key_path, terminal_key_path = workdir / "station.key", workdir / "booth1.key"
    crypto.save_signing_key(station_key_path, keys.station_key)
    # The station's public key, as enrolled in the registry: `sailau protocol verify
    # --station-key station.pub` checks who signed the demo's protocol.
    crypto.save_verify_key(workdir / "station.pub", keys.station_key.public_key())
    crypto.save_signing_key(terminal_key_path, keys.terminal_key)
    terminal_pub_path = workdir / "booth1.pub"
    crypto.save_verify_key(terminal_pub_path, keys.terminal_key.public_key())
    master_path = workdir / "card-master.key"  # as `sailau keys card-master` writes it: hex, 0600 from the start
    secretfile.write_secret_file(master_path, master_key_file_bytes(keys.card_master_key), "card master key")
    # The trust root the definition names, and the registry it signs: this precinct's
    # station and booth keys (`sailau registry check stations.json --election election.json`).
    assert kit.registry_root is not None  # a demo election is made here, root included
    crypto.save_signing_key(workdir / "registry-root.key", kit.registry_root)
    registry = build_registry(election.id, election.fingerprint_hex,
                              [(DEMO_PRECINCT, crypto.ed25519_public_bytes(keys.station_key.public_key()))],
                              {DEMO_PRECINCT: [crypto.ed25519_public_bytes(keys.terminal_key.public_key())]})
    write_registry(sign_registry(registry, kit.registry_root), workdir / "stations.json")

    member_keys = keys.member_keys or tuple(crypto.generate_signing_key() for _ in DEMO_MEMBERS)
    members = tuple(Member(DEMO_PRECINCT, role, name, crypto.ed25519_public_bytes(k.public_key()))
                    for (role, name), k in zip(DEMO_MEMBERS, member_keys))
    commission_dir = workdir / "commission"
    commission_dir.mkdir(exist_ok=True)
    member_key_paths = []
    for i, k in enumerate(member_keys, 1):
        path = commission_dir / f"member-{i}.key"
        crypto.save_signing_key(path, k)
        member_key_paths.append(path)
    members_path = commission_dir / "members.json"
    write_members_file(CommissionMembers(DEMO_PRECINCT, members), members_path)

    people = generate_voters(voters, random.Random(seed))
    pollbook_path = write_pollbook_csv(people, workdir / "voters.csv")
    db = open_station_db(f"sqlite:///{workdir / 'station.db'}")
    try:
        station = Station(db, election, DEMO_PRECINCT, keys.station_key, keys.card_master_key)
        pollbook.import_voters(db, pollbook_path)
        station.load_members(CommissionMembers(DEMO_PRECINCT, members))
    except BaseException:
        db.close()
        raise
    card = VirtualBallotCard(master_key=keys.card_master_key)
    return DemoKit(workdir, election, DEMO_PRECINCT, keys, kit.shares, people, kit.path, share_paths,
                   station_key_path, terminal_key_path, terminal_pub_path, master_path, pollbook_path,
                   workdir / "protocol", db, station, card, members, tuple(member_key_paths), members_path)


# --- the commission's own steps ----------------------------------------------------------


class CommissionStage(enum.Enum):
    """Where the members are in the demo's close (F12 moves them on)."""

    VOTING = "voting"  # nothing for the members yet
    SLIPPED = "slipped"  # two entries of the hand count differ (the second member slipped on one line)
    AGREED = "agreed"  # the hand count is agreed: the station may sign
    COSIGNED = "cosigned"  # a majority co-signed the signed protocol


class DemoCommission:
    """What the commission does in the demo that the apps' screens leave to people,
    each step through the clerk's own desk (`ClerkDesk`), so the station's rules
    apply exactly as at a real table. It keeps the demo's own ledger of the paper
    ballots (`paper_day.PaperTally`) to count them by hand at close."""

    def __init__(self, kit: DemoKit, desk_of: Callable[[], Any]) -> None:
        self.kit = kit
        self.desk_of = desk_of  # the clerk app's ClerkDesk (read when used: the app makes it)
        self.tally = PaperTally()
        self.stage = CommissionStage.VOTING
        self.paper_voter: SimVoter | None = None
        self.mobile_voter: SimVoter | None = None
        self.slipped_lines: tuple[str, ...] = ()
        self.last: str = ""  # what the last step did, in words for the guide

    @property
    def used_paper(self) -> bool:
        return self.tally.received > 0 or self.tally.requests > 0

    def _ballot(self, party: int) -> dict[str, str]:
        """A demo paper ballot: the `party`-th party of the Mäjilis list, the local races
        left unmarked (invalid on paper: there is no blank)."""
        election = self.kit.election
        marks: dict[str, str] = {}
        for i, contest in enumerate(election.contests_for_style(election.precinct(self.kit.precinct).style)):
            options = election.options(contest.id)
            marks[contest.id] = options[party % len(options)].id if i == 0 else INVALID
        return marks

    def _ok(self, step: Any, what: str) -> Any:
        if step.note is not None and step.note.severity == "error":
            raise DemoStepError(f"{what}: {step.note.code}")
        return step

    def _receive(self) -> None:
        if self.tally.received:
            return
        secretary = self.kit.members[2].name
        self._ok(self.desk_of().receive_paper(DEMO_PAPER, "territorial election commission", secretary),
                 "act of receipt")
        self.tally.received = DEMO_PAPER

    def take_paper_voter(self) -> SimVoter:
        """The next voter not yet at the table asks for a paper ballot: checked in with
        the PAPER form, marks it behind the curtain, drops it in the stationary box."""
        if self.paper_voter is not None:
            raise DemoStepError("the demo's paper voter has voted already")
        voter = self._next_voter()
        self._receive()
        self._ok(self.desk_of().check_in(voter.iin, form=BallotForm.PAPER), "paper check-in")
        self.tally.issued_in_station += 1
        self.tally.stationary.append(self._ballot(0))
        self.paper_voter = voter
        self.last = f"{voter.surname} {voter.given_name} took a paper ballot, marked it and dropped it in the stationary box"
        return voter

    def take_mobile_voter(self) -> SimVoter:
        """A voter at home asked in writing; two members take the request and two
        ballots out, the voter marks one into the mobile box, the team brings one back
        unused."""
        if self.mobile_voter is not None:
            raise DemoStepError("the demo's mobile-box voter has voted already")
        voter = self._next_voter()
        self._receive()
        members = self.kit.members
        desk = self.desk_of()
        self._ok(desk.request_mobile(voter.iin, "illness", members[2].name), "written request")
        self.tally.requests += 1
        trip = self._ok(desk.send_mobile_team([members[3].name, members[4].name], 2, [voter.iin]), "team out").trip
        self.tally.mobile.append(self._ballot(1))
        self._ok(desk.return_mobile_team(trip.id, [voter.iin], 1, 0), "team back")
        self.tally.issued_outside += 1
        self.mobile_voter = voter
        self.last = (f"{voter.surname} {voter.given_name} voted at home: the mobile team took 2 ballots, "
                     "brought 1 back unused and the mobile box")
        return voter

    def _next_voter(self) -> SimVoter:
        """The first voter of the list (after the guide's card voter) who has not voted in any form."""
        for voter in self.kit.voters[1:]:
            found = pollbook.find_by_iin(self.kit.db, voter.iin)
            if found is not None and not found.checked_in and found.ballot_form is BallotForm.NONE:
                return voter
        raise DemoStepError("every voter on the demo list has voted")

    @property
    def protocol_signed(self) -> bool:
        return (self.kit.out_dir / "protocol.json").is_file()

    def next_step(self) -> str:
        """F12: the members' next step. At close with paper: end voting, two entries of
        the hand count (the second slips on one line: the double entry shows it), then
        the correction; after the protocol: a majority co-signs."""
        desk = self.desk_of()
        secretary, member = self.kit.members[2], self.kit.members[3]
        style = self.kit.election.precinct(self.kit.precinct).style
        if self.protocol_signed:
            if self.stage is CommissionStage.COSIGNED:
                raise DemoStepError("the protocol is co-signed already")
            for path in self.kit.member_key_paths[:3]:
                self._ok(desk.cosign(path), "co-signature")
            self.stage = CommissionStage.COSIGNED
            self.last = "the chair, the deputy chair and the secretary co-signed the protocol: 3 of 5, a majority"
        elif self.stage is CommissionStage.VOTING:
            if not self.used_paper:
                raise DemoStepError("no paper ballots were used: nothing to count by hand; close the polls (F4, F9)")
            self._ok(desk.end_voting(), "end of voting")
            truth = self.tally.hand_count(self.kit.election, style)
            self._ok(desk.enter_hand_count(secretary.key_id, truth), "first entry")
            slip = HandCount(truth.unused, truth.found_stationary + 1, truth.found_mobile, truth.contests)
            desk.enter_hand_count(member.key_id, slip)
            state = desk.view().hand_count
            self.slipped_lines = tuple(d.line_key for d in state.differences) if state is not None else ()
            self.stage = CommissionStage.SLIPPED
            self.last = (f"the two entries differ on {', '.join(self.slipped_lines) or '?'}: the station will not sign; "
                         f"{member.name} counts the stationary box again (F12)")
        elif self.stage is CommissionStage.SLIPPED:
            truth = self.tally.hand_count(self.kit.election, style)
            self._ok(desk.enter_hand_count(member.key_id, truth), "second entry, corrected")
            state = desk.view().hand_count
            if state is None or state.agreed != truth:
                raise DemoStepError("the hand count is not agreed after the correction")
            self.stage = CommissionStage.AGREED
            self.last = "the two entries of the hand count agree: the station may sign"
        else:
            raise DemoStepError("the hand count is agreed: hand in the shares (F9) and close the polls")
        return self.last


class DemoStepError(RuntimeError):
    """A commission step the demo cannot take now (said in the guide, never a traceback)."""


# --- carrying the card ------------------------------------------------------------------


class CardPlace(enum.Enum):
    DESK = "desk"  # in nobody's reader
    BOX = "box"  # the ballot box's reader
    BOOTH = "booth"  # the booth terminal's reader


class CardCarrier(Protocol):
    """Moves the one demo card between the two readers and the desk."""

    place: CardPlace
    box_transport: Transport
    booth_source: CardSource

    def watch_box(self, callback: CardEventCallback) -> Callable[[], None]:
        """The clerk app's `watch`: deliver the ballot-box reader's events to `callback`."""

    def move(self, place: CardPlace) -> None: ...

    def close(self) -> None: ...


class InProcessCarrier:
    """Both readers in this process (`InProcessSlot`s): carrying is instant."""

    def __init__(self, card: VirtualBallotCard) -> None:
        self.card = card
        self.place = CardPlace.DESK
        self.box_transport = InProcessTransport()
        self.booth_source = InProcessCardSource()
        self._box_slot: InProcessSlot | None = None

    def watch_box(self, callback: CardEventCallback) -> Callable[[], None]:
        self._box_slot = InProcessSlot(self.box_transport, callback, BOX_READER)

        def stop() -> None:
            self._box_slot = None
        return stop

    def move(self, place: CardPlace) -> None:
        if place is self.place:
            return
        if self.place is CardPlace.BOX and self._box_slot is not None:
            self._box_slot.remove()
        elif self.place is CardPlace.BOOTH:
            self.booth_source.remove()
        if place is CardPlace.BOX:
            assert self._box_slot is not None, "the clerk app is not watching its reader yet"
            self._box_slot.insert(self.card)
        elif place is CardPlace.BOOTH:
            self.booth_source.insert(self.card)
        self.place = place

    def close(self) -> None:
        self.box_transport.remove()


class PcscCarrier:
    """The real PC/SC stack: pcscd with vpcd, one `VpcdBridge` per reader port.

    Both apps talk to the card through pyscard and learn of insertions from
    pcscd, exactly as with hardware readers; carrying pulls the card from one
    port and inserts it into the other (pcscd notices within ~0.4 s). pcscd
    must be running and both ports free: `sailau demo --pcsc` holds
    `pcsc_lease.pcscd_lease()` and a `reader_slot` of each port around it."""

    def __init__(self, card: VirtualBallotCard) -> None:
        from sailau.simulator.vpcd import VpcdBridge
        from sailau.smartcard.pcsc import PcscTransport
        from sailau.terminal.cards import PcscCardSource

        self.card = card
        self.place = CardPlace.DESK
        self._bridges = {CardPlace.BOX: VpcdBridge(card, port=35963, inserted=False).start(),
                         CardPlace.BOOTH: VpcdBridge(card, port=35964, inserted=False).start()}
        self.box_transport = PcscTransport(BOX_READER)
        self.booth_source = PcscCardSource(BOOTH_READER)

    def watch_box(self, callback: CardEventCallback) -> Callable[[], None]:
        from sailau.smartcard.events import ReaderWatcher

        watcher = ReaderWatcher(BOX_READER, callback)
        watcher.start()
        return watcher.stop

    def move(self, place: CardPlace) -> None:
        if place is self.place:
            return
        if self.place is not CardPlace.DESK:
            self._bridges[self.place].remove()
        if place is not CardPlace.DESK:
            self._bridges[place].insert()
        self.place = place

    def close(self) -> None:
        for bridge in self._bridges.values():
            bridge.stop()
        self.box_transport.disconnect()


# --- the two hosted apps ---------------------------------------------------------------


class DemoClerkApp(HostedApp, ClerkApp):
    """The clerk app, unchanged, able to run in a pane."""

    CSS_PATH = str(Path(clerk_module.__file__).with_name("clerk.tcss"))  # relative paths follow the subclass


class DemoKioskApp(HostedApp, KioskApp):
    """The booth kiosk, unchanged, able to run in a pane."""

    CSS_PATH = str(Path(kiosk_module.__file__).with_name("terminal.tcss"))


# --- the demo screen ---------------------------------------------------------------------

CARD_STATE_TEXT = {CardState.BLANK: "BLANK", CardState.ISSUED: "ISSUED", CardState.VOTED: "VOTED"}
PLACE_TEXT = {CardPlace.DESK: "on the desk", CardPlace.BOX: "in the ballot-box reader",
              CardPlace.BOOTH: "in the booth reader"}


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it (shorter on screen)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class DemoApp(App[None]):
    """The ballot box (left) and the booth (right), the card between them."""

    CSS_PATH = "demo.tcss"
    TITLE = "Sailau demo"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f5", "carry", "Carry the card", priority=True),
        Binding("f6", "to_desk", "Card to the desk", priority=True),
        Binding("f7", "switch_side", "Other side", priority=True),
        Binding("f9", "hand_in_shares", "Hand in the shares", priority=True),
        Binding("f10", "paper_voter", "A paper voter", priority=True),
        Binding("f11", "mobile_voter", "A voter at home", priority=True),
        Binding("f12", "commission", "The members' next step", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, kit: DemoKit, carrier: CardCarrier, *, language: str = "en",
                 speaker: Speaker | None = None, idle_timeout: float = 120.0, pcsc: bool = False) -> None:
        super().__init__()
        self.kit = kit
        self.carrier = carrier
        self.pcsc = pcsc
        self.clerk = DemoClerkApp(kit.station, carrier.box_transport, terminal_keys=[kit.terminal],
                                  language=language, out_dir=kit.out_dir, watch=carrier.watch_box)
        config = TerminalConfig(kit.election, kit.precinct, kit.keys.terminal_key, idle_timeout=idle_timeout,
                                idle_warning=min(30.0, idle_timeout / 4))
        self.kiosk = DemoKioskApp(TerminalSession(config), carrier.booth_source,
                                  speaker=speaker if speaker is not None else Speaker.detect())
        self.ballots_counted = 0  # VOTED cards the ballot box turned BLANK, as seen from here
        self.commission = DemoCommission(kit, lambda: self.clerk.desk)
        self._last_card_state: CardState | None = None
        self._carry_lock = threading.Lock()
        self.carrying = False

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        precinct = self.kit.election.precinct(self.kit.precinct)
        mode = "pcscd + vpcd" if self.pcsc else "in-process card"
        yield Static(f"[b]Sailau demo[/b] · precinct {self.kit.precinct}, {precinct.address.get('en')} · "
                     f"{len(self.kit.voters)} voters on the list · {mode} · files in {shown_path(self.kit.workdir)}", id="title")
        yield Static("", id="guide")
        with Horizontal(id="stations"):
            with Vertical(id="box-side", classes="side"):
                yield Static("BALLOT BOX · the clerk at the registration table", classes="side-title")
                yield AppPane(self.clerk, id="box")
            with Vertical(id="card-column"):
                yield Static("THE CARD", classes="side-title")
                yield Static("", id="card")
                yield Button("◀ Ballot box", id="to-box")
                yield Button("Desk", id="to-desk")
                yield Button("Booth ▶", id="to-booth")
                yield Static("F5 carries it\nF6 puts it down", id="card-keys")
            with Vertical(id="booth-side", classes="side"):
                yield Static("BOOTH · the voting terminal", classes="side-title")
                yield AppPane(self.kiosk, id="booth")
        yield Static("Click a side (F7 switches) · F2-F4 that side's app · F5 carry the card · F6 card to the desk · "
                     "F9 shares · F10 paper voter · F11 voter at home · F12 the members · Ctrl+Q quit", id="keys")

    def on_mount(self) -> None:
        self.query_one("#box", AppPane).focus()
        self.set_interval(0.2, self.refresh_guide)
        self.refresh_guide()

    async def on_unmount(self) -> None:
        for pane in self.query(AppPane).results(AppPane):
            await pane.stop_hosted()

    # -- the card --------------------------------------------------------------------------

    def card_state(self) -> CardState | None:
        try:
            return self.kit.card.state
        except Exception:  # mid-write in another thread: try again at the next tick
            return None

    def move_card(self, place: CardPlace) -> None:
        """Carry the card (in a worker: with pcscd a removal waits for the bridge)."""
        if self.carrying or place is self.carrier.place:
            return
        if place is CardPlace.BOX and not self.query_one("#box", AppPane).running:
            return
        if place is CardPlace.BOX and isinstance(self.clerk_screen(), OpenPollsScreen):
            self.notify("Open the polls first: the ballot box reads cards only while the polls are open.",
                        severity="warning")
            return
        self.carrying = True
        self.refresh_guide()

        def carry() -> None:
            with self._carry_lock:
                try:
                    self.carrier.move(place)
                finally:
                    self.call_from_thread(self._carried)

        self.run_worker(carry, thread=True, group="carry", exit_on_error=False)

    def _carried(self) -> None:
        self.carrying = False
        self.refresh_guide()

    def action_carry(self) -> None:
        place = self.carrier.place
        self.move_card(CardPlace.BOOTH if place is CardPlace.BOX else CardPlace.BOX)

    def action_to_desk(self) -> None:
        self.move_card(CardPlace.DESK)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        target = {"to-box": CardPlace.BOX, "to-desk": CardPlace.DESK, "to-booth": CardPlace.BOOTH}.get(
            event.button.id or "")
        if target is not None:
            self.move_card(target)

    def action_switch_side(self) -> None:
        box, booth = self.query_one("#box", AppPane), self.query_one("#booth", AppPane)
        (booth if box.has_focus else box).focus()

    # -- close of polls: the commission hands in its shares ---------------------------------

    def action_hand_in_shares(self) -> None:
        """Fill the clerk's share entry with the k share files, as commission members would."""
        clerk = self.clerk
        with clerk._context():
            screen = clerk.screen
            if not isinstance(screen, CloseScreen):
                self.notify("Open the close-of-polls screen first: F4 in the ballot box.", severity="warning")
                return
            field_ = screen.query_one("#share-file", Input)
            add = screen.query_one("#add-file", Button)
            for path in self.kit.share_paths:
                field_.value = str(path)
                screen.on_button_pressed(Button.Pressed(add))

    # -- the commission's steps (DemoCommission, through the clerk's desk) -----------------

    def _commission_step(self, step: Callable[[], object]) -> None:
        clerk = self.clerk
        with clerk._context():
            if not clerk.is_running or not clerk._screen_stack:
                return
            try:
                step()
            except DemoStepError as exc:
                self.notify(str(exc), severity="warning")
            clerk.show()
        self.refresh_guide()

    def action_paper_voter(self) -> None:
        if not isinstance(self.clerk_screen(), DeskScreen):
            self.notify("A paper voter comes to the table while the polls are open (the desk screen).", severity="warning")
            return
        self._commission_step(self.commission.take_paper_voter)

    def action_mobile_voter(self) -> None:
        if not isinstance(self.clerk_screen(), DeskScreen):
            self.notify("The mobile team goes out while the polls are open (the desk screen).", severity="warning")
            return
        self._commission_step(self.commission.take_mobile_voter)

    def action_commission(self) -> None:
        self._commission_step(self.commission.next_step)

    # -- the guide -------------------------------------------------------------------------

    def clerk_screen(self) -> Any:
        with self.clerk._context():
            return self.clerk.screen if self.clerk.is_running and self.clerk._screen_stack else None

    def refresh_guide(self) -> None:
        state = self.card_state()
        place = self.carrier.place
        if self._last_card_state is CardState.VOTED and state is CardState.BLANK and place is CardPlace.BOX:
            self.ballots_counted += 1
        if state is not None:
            self._last_card_state = state
        try:
            guide = self.query_one("#guide", Static)
        except NoMatches:  # the timer fired while the screen is being taken down
            return
        guide.update(self.guide_text(state, place))
        serial = self.kit.card.serial.hex()[:8]
        shown = "…" if state is None else CARD_STATE_TEXT[state]
        where = "being carried…" if self.carrying else PLACE_TEXT[place]
        card = self.query_one("#card", Static)
        card.update(f"┌──────────┐\n│ ballot   │\n│ card     │\n│ {serial} │\n└──────────┘\n[b]{shown}[/b]\n{where}")
        for button_id, target in (("#to-box", CardPlace.BOX), ("#to-desk", CardPlace.DESK),
                                  ("#to-booth", CardPlace.BOOTH)):
            button = self.query_one(button_id, Button)
            button.disabled = self.carrying or place is target
            button.set_class(place is target, "here")

    def guide_text(self, state: CardState | None, place: CardPlace) -> str:
        screen = self.clerk_screen()
        voter = self.kit.voters[0]
        if screen is None:
            return "Starting the ballot box and the booth…"
        members = self.commission
        if isinstance(screen, ProtocolScreen):
            files = (f"Its files are in {shown_path(self.kit.out_dir)} (check it: sailau protocol verify "
                     f"{shown_path(self.kit.out_dir / 'protocol.json')}).")
            if members.stage is not CommissionStage.COSIGNED:
                return (f"The polls are closed and the protocol is signed. {files} "
                        "Step 11 · The members co-sign it, each with their own key: press F12.")
            return f"Done: the protocol is signed and co-signed by 3 of the 5 members. {files} Ctrl+Q quits."
        if isinstance(screen, OpenPollsScreen):
            return ("Step 1 · Ballot box: press «Open the polls» (the booth's key is enrolled, the zero report "
                    "shows an empty box), then «Start checking in voters».")
        if isinstance(screen, CloseScreen):
            if members.used_paper and members.stage is CommissionStage.VOTING:
                return ("Step 9 · Paper ballots were used: the members count them by hand, the mobile box first, and "
                        "two of them enter the count: press F12.")
            if members.stage is CommissionStage.SLIPPED:
                return (f"The double entry caught a slip: {members.last}. The station will not sign until they agree: "
                        "press F12.")
            return ("Step 10 · The commission brings 3 of its 5 key shares: press F9 to hand them in "
                    f"(files in {shown_path(self.kit.workdir / 'shares')}), then «Close the polls and sign the protocol».")
        if not isinstance(screen, DeskScreen):
            return "Ballot box: answer the question on its screen."
        if place is CardPlace.DESK:
            if state is CardState.BLANK:
                return "Step 2 · Put the blank card into the ballot-box reader: press F5 or «◀ Ballot box»."
            return "Put the card into the ballot-box reader: press F5 or «◀ Ballot box»."
        if place is CardPlace.BOX:
            if state is CardState.BLANK:
                if self.ballots_counted:
                    done = f"Done: {members.last}. " if members.last else "Counted! "
                    if members.paper_voter is None:
                        return (f"{done}Step 6 · The next voter asks for a paper ballot instead of a card: press F10 "
                                "(the table receives 20 paper ballots first, under a signed act).")
                    if members.mobile_voter is None:
                        return (f"{done}Step 7 · A voter who cannot come asked in writing to vote at home: press F11 "
                                "(two members take the mobile box out and back).")
                    return (f"{done}Step 8 · Close the polls: click the ballot box and press F4. "
                            "(Or vote again: F6 puts the card on the desk, check in the next voter, F5 inserts it.)")
                return (f"Step 3 · Find a voter: click the ballot box, type the IIN {voter.iin} (or a surname's "
                        f"first letters, e.g. {voter.surname[:3]}) and Enter, then «Check in»: the card is issued.")
            if state is CardState.ISSUED:
                return "Step 4 · The card is issued. Carry it to the booth: press F5 or «Booth ▶»."
            return "The ballot box is reading the card…"
        # in the booth
        phase = self.kiosk.session.phase
        if state is CardState.VOTED and phase is not Phase.WRITING:
            return ("Step 5 · The sealed ballot is on the card. Carry it back to the ballot box (F5): "
                    "it is verified, counted once and the card is cleared.")
        if state is CardState.ISSUED:
            return ("Step 4 · Vote: click the booth, choose a language, mark each contest (click or arrows + "
                    "Enter), review, then confirm.")
        return "This card holds no ballot to vote on: carry it back to the ballot box (F5)."
