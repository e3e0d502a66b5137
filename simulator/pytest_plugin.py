"""Pytest fixtures that give your tests a Sailau ballot card (protocol v2)
without hardware: for the developer of another booth or ballot box who wants
CI against the card the real stations use.

Installed with Sailau as the pytest11 entry point `sailau` (pytest loads it by
itself; `-p no:sailau` turns it off). Fixtures:

- `sailau_card`: a fresh BLANK virtual card in an in-process reader, as a
  `CardInReader`: `.client()` gives a connected `BallotCardClient`,
  `.transport` is the raw `Transport` for your own APDU code, `.issue(block)`
  does the ballot box's ISSUE for you, `.pull()` / `.put_back()` move the card.
- `sailau_pcsc_card`: the same card served through the real PC/SC stack
  (pcscd + vsmartcard's vpcd) in reader "Virtual PCD 00 00"
  (`--sailau-vpcd-port 35964` picks "Virtual PCD 00 01"); `.reader` is the name
  to give your own PC/SC code. pcscd is reused or started, and shared with
  other processes through the same locks as Sailau's own tests
  (`sailau.simulator.pcsc_lease`); the fixture fails with the reason when
  pcscd cannot run, it never skips.
- `sailau_card_factory`: `make(master_key=..., serial=..., defect=NAME,
  tear_hook=False)` for more cards, broken ones included (`simulator/defects.py`).
- `sailau_master_key`: the card master key cards are personalised with (the
  simulator's test key); override this fixture to use your station's.

Nothing here is imported until a test asks for a fixture, so the plugin costs
other test sessions nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.simulator.vpcd import Pcscd, VpcdBridge
    from sailau.smartcard.client import BallotCardClient
    from sailau.smartcard.transport import Transport

DEFAULT_VPCD_PORT = 35963
CARD_WAIT = 10.0  # seconds: pcscd notices a vpcd card within ~400 ms


@dataclass
class CardInReader:
    """A virtual ballot card in a reader, in-process or through pcscd."""

    card: VirtualBallotCard
    transport: Transport
    master_key: bytes
    reader: str = "in-process"
    _pull: Callable[[], None] = field(repr=False, default=lambda: None)
    _put_back: Callable[[], None] = field(repr=False, default=lambda: None)

    def client(self) -> BallotCardClient:
        """A `BallotCardClient` on this reader, connected (the card powered)."""
        from sailau.smartcard.client import BallotCardClient

        client = BallotCardClient(self.transport)
        client.connect()
        return client

    def issue(self, issue_block: bytes) -> None:
        """Do the ballot box's part: ISSUE `issue_block` with the master key."""
        client = self.client()
        client.issue(issue_block, self.master_key)
        self.transport.disconnect()

    def pull(self) -> None:
        """Take the card out of the reader (it loses power)."""
        self._pull()

    def put_back(self) -> None:
        """Put the card back in (through pcscd: returns once pcscd sees it)."""
        self._put_back()


def in_process(card: VirtualBallotCard, master_key: bytes) -> CardInReader:
    from sailau.smartcard.transport import InProcessTransport

    transport = InProcessTransport(card)

    def put_back() -> None:
        if transport.card is None:
            transport.insert(card)

    return CardInReader(card, transport, master_key, _pull=transport.remove, _put_back=put_back)


@contextmanager
def served(card: VirtualBallotCard, port: int, *, wait: float = CARD_WAIT, **bridge_options: Any
           ) -> Iterator[VpcdBridge]:
    """`card` inserted into vpcd `port` through a `VpcdBridge` thread, waited
    for through PC/SC and identified by its serial; pulled (and waited for
    gone) at the end. The slot must be ours (`pcsc_lease.reader_slot`)."""
    from sailau.simulator.vpcd import READER_BY_PORT, VpcdBridge
    from sailau.smartcard.pcsc import PcscTransport, wait_for_card

    reader = READER_BY_PORT[port]
    bridge = VpcdBridge(card, port=port, **bridge_options).start()
    try:
        wait_for_card(reader, present=True, timeout=wait)
        from sailau.smartcard.client import BallotCardClient

        with PcscTransport(reader) as transport:
            serial = BallotCardClient(transport).select().serial
        if serial != card.serial:
            raise RuntimeError(f"{reader!r} serves card {serial.hex()}, not ours: is another "
                               f"`sailau card serve --port {port}` running outside the slot lock?")
        yield bridge
    finally:
        bridge.stop()
        wait_for_card(reader, present=False, timeout=wait)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sailau", "Sailau ballot card fixtures")
    group.addoption("--sailau-vpcd-port", type=int, default=DEFAULT_VPCD_PORT, metavar="PORT",
                    help="vpcd port of the reader `sailau_pcsc_card` uses: 35963 is 'Virtual PCD 00 00', "
                         "35964 'Virtual PCD 00 01' (default %(default)s).")


@pytest.fixture
def sailau_master_key() -> bytes:
    """The card master key the fixtures personalise cards with (override for your station's)."""
    from sailau.simulator.card_app import TEST_MASTER_KEY

    return TEST_MASTER_KEY


@pytest.fixture
def sailau_card_factory(sailau_master_key: bytes) -> Callable[..., VirtualBallotCard]:
    """`make(master_key=None, serial=None, defect=None, tear_hook=False)`: a new BLANK virtual card."""
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.simulator.defects import DEFECTS

    def make(*, master_key: bytes | None = None, serial: bytes | None = None, defect: str | None = None,
             tear_hook: bool = False) -> VirtualBallotCard:
        options = dict(master_key=master_key or sailau_master_key, serial=serial, tear_hook=tear_hook)
        if defect is not None:
            if defect not in DEFECTS:
                raise ValueError(f"no card defect {defect!r}; defects: {', '.join(sorted(DEFECTS))}")
            return DEFECTS[defect].make(**options)
        return VirtualBallotCard(**options)

    return make


@pytest.fixture
def sailau_card(sailau_card_factory: Callable[..., VirtualBallotCard], sailau_master_key: bytes
                ) -> Iterator[CardInReader]:
    """A fresh BLANK virtual ballot card in an in-process reader."""
    handle = in_process(sailau_card_factory(), sailau_master_key)
    yield handle
    handle.transport.disconnect()


@pytest.fixture(scope="session")
def sailau_pcscd() -> Iterator[Pcscd]:
    """pcscd with the vpcd readers, for the whole session (shared, locked)."""
    from sailau.simulator.pcsc_lease import LeaseTimeout, pcscd_lease
    from sailau.simulator.vpcd import PcscdError

    try:
        with pcscd_lease() as service:
            yield service
    except (PcscdError, LeaseTimeout) as exc:
        pytest.fail(f"cannot run pcscd with vpcd (Debian: apt-get install pcscd vsmartcard-vpcd): {exc}")


@pytest.fixture
def sailau_pcsc_card(request: pytest.FixtureRequest, sailau_pcscd: Pcscd,
                     sailau_card_factory: Callable[..., VirtualBallotCard], sailau_master_key: bytes
                     ) -> Iterator[CardInReader]:
    """A fresh BLANK virtual ballot card in a vpcd reader, through pcscd."""
    from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, reader_slot
    from sailau.smartcard.pcsc import PcscTransport, wait_for_card

    port = request.config.getoption("--sailau-vpcd-port")
    card = sailau_card_factory()
    with ExitStack() as stack:
        try:
            slot = stack.enter_context(reader_slot(port))
        except (LeaseTimeout, SlotBusyError) as exc:
            pytest.fail(str(exc))
        bridge = stack.enter_context(served(card, slot.port))
        transport = PcscTransport(slot.reader)
        stack.callback(transport.disconnect)

        def pull() -> None:
            transport.disconnect()
            bridge.remove()
            wait_for_card(slot.reader, present=False, timeout=CARD_WAIT)

        def put_back() -> None:
            bridge.insert()
            wait_for_card(slot.reader, present=True, timeout=CARD_WAIT)

        yield CardInReader(card, transport, sailau_master_key, slot.reader, pull, put_back)
