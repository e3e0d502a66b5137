"""A precinct day with paper ballots and the mobile box, counted at close (issue 13,
items 4-6, the station's side): the hand count entered twice by two different
members (a mismatch blocks signing and shows the lines), the format-4 protocol
with its paper section signed once they agree, a relation failing on the
hand-entered figures refused by name with nothing written, the wall copies
written beside the protocol, the members co-signing on the station, and the
whole verified by `sailau protocol verify --registry` (majority, dissent)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.ballot_box import pollbook
from sailau.ballot_box.close import ProtocolRefused
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.desk import ClerkDesk, EnteredShare
from sailau.ballot_box.handcount import HandCount, HandCountDifference
from sailau.ballot_box.models import BallotForm
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.station import HandCountRefused, Station
from sailau.cli.main import cli
from sailau.commission.registry import build_registry, sign_registry, write_registry
from sailau.election import crypto
from sailau.election.ballot import AGAINST_ALL
from sailau.election.definition import load_election, write_election
from sailau.election.members import CommissionMembers, Member, Role, write_members_file
from sailau.election.protocol import ContestResult, SignedProtocol, validate_protocol
from sailau.simulator.booth_rig import K, Rig

from station_support import blank_card, restart

ROLES = (Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY, Role.MEMBER, Role.MEMBER)
NAMES = ("Әсел Нұрланқызы Серікова", "Ерлан Болатұлы Жақсылықов", "Ирина Викторовна Ким", "Дәурен Асқарұлы Беков",
         "Гүлнар Сейітқызы Омарова")
CARD_VOTERS, PAPER_VOTERS = (0, 1, 2), (3, 4, 5)
MOBILE_VOTER = 6
RECEIVED = 20
ALMATY_EVENING = dt.datetime(2023, 3, 19, 20, 5, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def run(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


@dataclasses.dataclass
class PaperRig:
    rig: Rig
    dir: Path
    keys: list
    members: CommissionMembers

    def key_id(self, i: int) -> bytes:
        return crypto.key_id(self.keys[i].public_key())


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> PaperRig:  # noqa: ANN001
    d = tmp_path_factory.mktemp("paper")
    base = Rig.create(voters=12)
    root = crypto.generate_signing_key()
    write_election(base.election.model_copy(update={"registry_root_key": crypto.ed25519_public_bytes(root.public_key()).hex()}),
                   d / "election.json")
    election = load_election(d / "election.json")
    rig = dataclasses.replace(base, election=election)
    keys = [crypto.generate_signing_key() for _ in ROLES]
    members = CommissionMembers(rig.precinct, tuple(Member(rig.precinct, r, n, crypto.ed25519_public_bytes(k.public_key()))
                                                    for r, n, k in zip(ROLES, NAMES, keys)))
    write_members_file(members, d / "members.json")
    for i, k in enumerate(keys):
        crypto.save_signing_key(d / f"m{i}.key", k)
    registry = build_registry(election.id, election.fingerprint_hex,
                              [(rig.precinct, crypto.ed25519_public_bytes(rig.station_key.public_key()))],
                              members={rig.precinct: members.members})
    write_registry(sign_registry(registry, root), d / "stations.json")
    return PaperRig(rig, d, keys, members)


@pytest.fixture
def day(paper: PaperRig, tmp_path: Path) -> Iterator[Station]:
    """A station of the paper rig, members loaded at set-up, whose day is over: card,
    paper and mobile-box voters, voting ended (closed, sealed), nothing counted yet."""
    rig = paper.rig
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: ALMATY_EVENING) as db:
        station = rig.station(db)
        station.load_members(paper.members)
        pollbook.import_voters(db, rig.voters_csv(tmp_path / "voters.csv"))
        station.open_polls([rig.terminal])
        station.receive_paper(RECEIVED, "territorial commission", NAMES[2])
        _, client = blank_card(rig)
        for i in CARD_VOTERS:
            station.check_in(rig.iins[i])
            station.on_card(client)
            rig.vote(client, rig.selections(i))
            assert station.on_card(client).cast.counted  # type: ignore[union-attr]
        for i in PAPER_VOTERS:
            station.check_in(rig.iins[i], form=BallotForm.PAPER)
        station.request_mobile(rig.iins[MOBILE_VOTER], "illness", NAMES[2])
        trip = station.send_mobile_team([NAMES[3], NAMES[4]], 2, [rig.iins[MOBILE_VOTER]])
        station.return_mobile_team(trip.id, [rig.iins[MOBILE_VOTER]], unused=1, spoiled=0)
        station.end_voting()
        yield station


def right_count(rig: Rig) -> HandCount:
    """What the members find: 4 paper ballots (3 stationary, 1 mobile); per contest two
    for the first option, one for the second, one invalid; 16 unused at the table."""
    style = rig.election.precinct(rig.precinct).style
    contests = []
    for c in rig.election.contests_for_style(style):
        options = [o.id for o in rig.election.options(c.id)]
        contests.append(ContestResult(c.id, {o: {0: 2, 1: 1}.get(i, 0) for i, o in enumerate(options)}, invalid=1))
    return HandCount(unused=16, found_stationary=3, found_mobile=1, contests=tuple(contests))


def electronic_tally(rig: Rig) -> dict[str, Counter]:
    style = rig.election.precinct(rig.precinct).style
    out: dict[str, Counter] = {c.id: Counter() for c in rig.election.contests_for_style(style)}
    for i in CARD_VOTERS:
        chosen = rig.selections(i)
        for cid in out:
            choice = chosen.get(cid)
            out[cid]["against_all" if choice is AGAINST_ALL else "blank" if choice is None else choice] += 1
    return out


def with_line(count: HandCount, key: str, value: int) -> HandCount:
    if not key.startswith("contest:"):
        return dataclasses.replace(count, **{key: value})
    _, cid, what, *rest = key.split(":")
    contests = tuple(dataclasses.replace(c, votes={**c.votes, rest[0]: value}) if c.contest_id == cid and what == "option"
                     else dataclasses.replace(c, **{what: value}) if c.contest_id == cid else c for c in count.contests)
    return dataclasses.replace(count, contests=contests)


def test_a_mismatch_blocks_signing_and_shows_the_lines(paper: PaperRig, day: Station, tmp_path: Path) -> None:
    rig, count = paper.rig, right_count(paper.rig)
    first_option = f"contest:{count.contests[0].contest_id}:option:{next(iter(count.contests[0].votes))}"
    slip = with_line(with_line(count, "found_mobile", 2), first_option, 3)
    out = tmp_path / "out"
    with pytest.raises(HandCountRefused) as missing:
        day.close_polls(rig.shares[:K], out)
    assert missing.value.reason is Refusal.HAND_COUNT_MISSING and not out.exists()
    day.enter_hand_count(paper.key_id(0), count)
    again = day.enter_hand_count(paper.key_id(0), count)  # the same member twice is still one entry
    assert again.entries == (paper.key_id(0),) and again.agreed is None
    with pytest.raises(HandCountRefused) as one:
        day.close_polls(rig.shares[:K], out)
    assert one.value.reason is Refusal.HAND_COUNT_MISSING and not out.exists()
    state = day.enter_hand_count(paper.key_id(1), slip)
    assert state.agreed is None
    # first / second: the entries in member key-id order (state.entries), whichever typed first
    pairs = {(d.line_key, frozenset((d.first, d.second))) for d in state.differences}
    assert pairs == {("found_mobile", frozenset((1, 2))), (first_option, frozenset((2, 3)))}
    assert all(isinstance(d, HandCountDifference) for d in state.differences)
    with pytest.raises(HandCountRefused) as mismatch:
        day.close_polls(rig.shares[:K], out)
    with pytest.raises(HandCountRefused):  # refused before the shares are used: none given, same refusal
        day.close_polls([], out)
    assert mismatch.value.reason is Refusal.HAND_COUNT_MISMATCH and not out.exists()
    assert mismatch.value.state is not None and mismatch.value.state.differences == state.differences
    # the second member counts again and corrects their own entry: now they agree and close signs
    assert day.enter_hand_count(paper.key_id(1), count).agreed == count
    assert day.close_polls(rig.shares[:K], out).protocol.paper is not None


def test_only_a_member_enters_the_hand_count(paper: PaperRig, day: Station) -> None:
    stranger = crypto.key_id(crypto.generate_signing_key().public_key())
    with pytest.raises(HandCountRefused) as caught:
        day.enter_hand_count(stranger, right_count(paper.rig))
    assert caught.value.reason is Refusal.NOT_A_MEMBER and day.hand_count().entries == ()


def test_agreement_signs_the_three_protocols(paper: PaperRig, day: Station, tmp_path: Path) -> None:
    rig, count = paper.rig, right_count(paper.rig)
    day.enter_hand_count(paper.key_id(2), count)
    day.enter_hand_count(paper.key_id(4), count)
    result = day.close_polls(rig.shares[:K], tmp_path / "out")
    p = result.protocol
    assert p.paper is not None and validate_protocol(p, rig.election) == [] and p.discrepancies == ()
    assert (p.paper.received, p.paper.issued_in_station, p.paper.issued_outside, p.paper.spoiled, p.paper.unused,
            p.paper.mobile_requests, p.paper.found_stationary, p.paper.found_mobile) == (RECEIVED, 3, 1, 0, 16, 1, 3, 1)
    assert (p.voters_paper, p.voters_outside, p.ballots_cast, p.ballots_counted) == (3, 1, 3, 7)
    assert p.paper.contests == count.contests
    tally = electronic_tally(rig)
    for c in p.contests:  # combined = electronic + paper, option by option; the electronic part derived back
        paper_part, electronic = count.contest(c.contest_id), next(e for e in p.electronic_contests if e.contest_id == c.contest_id)
        for oid, n in c.votes.items():
            assert n == tally[c.contest_id].get(oid, 0) + paper_part.votes[oid] and electronic.votes[oid] == tally[c.contest_id].get(oid, 0)
        assert c.invalid == 1 and c.blank == tally[c.contest_id]["blank"]
    files = result.files
    assert files is not None and [f.name for f in files.wall_copies] == ["wall-kk.pdf", "wall-ru.pdf"]
    assert all(f.read_bytes().startswith(b"%PDF-") for f in files.wall_copies)


@pytest.mark.parametrize("key, value, relation", [
    ("unused", 15, "paper:received==issued+spoiled+unused"),
    ("found_stationary", 4, "paper:found_stationary<=issued_in_station"),
    ("found_mobile", 2, "paper:found_mobile<=issued_outside"),
    ("contest:{cid}:invalid", 2, "paper:contest:{cid}:sum==found"),
])
def test_a_relation_failing_on_hand_entered_figures_refuses_by_name(
        paper: PaperRig, day: Station, tmp_path: Path, key: str, value: int, relation: str) -> None:
    rig = paper.rig
    cid = right_count(rig).contests[0].contest_id
    wrong = with_line(right_count(rig), key.format(cid=cid), value)
    day.enter_hand_count(paper.key_id(0), wrong)
    day.enter_hand_count(paper.key_id(1), wrong)
    out = tmp_path / "out"
    with pytest.raises(ProtocolRefused) as early:  # checked before the shares are used: none given, same refusal
        day.close_polls([], out)
    assert early.value.hand_entered and relation.format(cid=cid) in {v.name for v in early.value.violations}
    with pytest.raises(ProtocolRefused) as caught:
        day.close_polls(rig.shares[:K], out)
    assert caught.value.hand_entered and relation.format(cid=cid) in {v.name for v in caught.value.violations}
    assert "correct the hand count" in str(caught.value) and not out.exists()  # nothing signed or written
    desk = ClerkDesk(day, lambda: None, out_dir=out)  # type: ignore[arg-type,return-value]
    desk.set_shares([EnteredShare(share.index, "file", share) for share in rig.shares[:K]])
    note = desk.close_polls().note
    assert note is not None and note.code == "hand_count.relations" and relation.format(cid=cid) in note.fields["names"]


def test_a_resumed_close_after_a_crash_signs_the_same_bytes(paper: PaperRig, day: Station, tmp_path: Path) -> None:
    rig, count = paper.rig, right_count(paper.rig)
    day.enter_hand_count(paper.key_id(0), count)
    day.enter_hand_count(paper.key_id(3), count)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")  # the outputs cannot be written: close dies there
    with pytest.raises(OSError):
        day.close_polls(rig.shares[:K], blocked)
    first = restart(rig, day).close_polls(rig.shares[1:1 + K], tmp_path / "a")
    second = restart(rig, day).close_polls(rig.shares[:K], tmp_path / "b")
    assert (tmp_path / "a" / "protocol.json").read_bytes() == (tmp_path / "b" / "protocol.json").read_bytes()
    assert first.signed == second.signed and first.protocol.paper is not None


def test_members_co_sign_on_the_station_and_verify_counts_the_majority(paper: PaperRig, day: Station, tmp_path: Path) -> None:
    rig, count = paper.rig, right_count(paper.rig)
    day.enter_hand_count(paper.key_id(0), count)
    day.enter_hand_count(paper.key_id(1), count)
    out = tmp_path / "out"
    day.close_polls(rig.shares[:K], out)
    desk = ClerkDesk(restart(rig, day), lambda: None, out_dir=out)  # type: ignore[arg-type,return-value]
    view = desk.refresh()
    assert view.members == paper.members.members and view.cosignatures is not None and not view.cosignatures.majority
    wall_before = (out / "wall-ru.pdf").read_bytes()
    dissent = "Не согласен: переносной ящик вскрыт\nбез наблюдателей."
    notes = [desk.cosign(paper.dir / "m0.key").note, desk.cosign(paper.dir / "m2.key", dissent).note]
    assert [n.code for n in notes if n is not None] == ["cosign.signed", "cosign.signed"]
    assert desk.cosign(paper.dir / "m2.key").note.code == "cosign.already"  # type: ignore[union-attr]
    stranger = tmp_path / "stranger.key"
    crypto.save_signing_key(stranger, crypto.generate_signing_key())
    assert desk.cosign(stranger).note.code == "cosign.not_a_member"  # type: ignore[union-attr]
    assert desk.cosign(paper.dir / "m4.key", role="chair").note.code == "cosign.role"  # type: ignore[union-attr]
    verify = run("protocol", "verify", out / "protocol.json", "--election", paper.dir / "election.json",
                 "--registry", paper.dir / "stations.json")
    assert verify.exit_code == 1 and "cosign:no_majority" in verify.output  # 2 of 5 is no majority
    step = desk.cosign(paper.dir / "m4.key")
    assert step.note is not None and step.note.code == "cosign.majority" and step.cosignature is not None
    check = desk.view().cosignatures
    assert check is not None and check.majority and len(check.valid) == 3 and check.ok
    assert (out / "wall-ru.pdf").read_bytes() != wall_before  # printed again with who signed
    verify = run("protocol", "verify", out / "protocol.json", "--election", paper.dir / "election.json",
                 "--registry", paper.dir / "stations.json")
    assert verify.exit_code == 0, verify.output
    assert "co-signed by 3 of 5 members" in verify.output and "dissenting opinion of secretary" in verify.output
    assert "    без наблюдателей." in verify.output  # the dissent, signed with the co-signature, survives verify
    signed = SignedProtocol.from_canonical_json((out / "protocol.json").read_bytes())
    assert signed.protocol.paper is not None  # the protocol with paper round-trips
    cosig = json.loads(next(out.glob("protocol.*.cosig")).read_text())
    local = ALMATY_EVENING.astimezone(zoneinfo.ZoneInfo("Asia/Almaty"))  # the station's clock, in the precinct's zone
    assert cosig["time_zone"] == "Asia/Almaty" and cosig["signed_at"] == local.isoformat()


def pdf_text(pdf: Path) -> str:
    import re
    import subprocess

    raw = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return re.sub(r"\s+", " ", raw)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_wall_copies_at_close_hold_every_line_name_and_signature_line(
        paper: PaperRig, day: Station, tmp_path: Path, lang: str) -> None:
    from sailau.ballot_box.wallcopy import PRECINCT_LINES, SIGNATURE_LINE, TEXT, protocol_lines

    rig, count = paper.rig, right_count(paper.rig)
    day.enter_hand_count(paper.key_id(0), count)
    day.enter_hand_count(paper.key_id(1), count)
    result = day.close_polls(rig.shares[:K], tmp_path / "out")
    text = pdf_text(tmp_path / "out" / f"wall-{lang}.pdf")
    sections = protocol_lines(result.signed, rig.election, lang)
    numbered = [ln for s in sections for ln in s.lines]
    assert [ln.number for ln in numbered] == list(range(1, len(numbered) + 1))
    assert [ln.key for ln in sections[0].lines] == [d.key for d in PRECINCT_LINES]  # every line of the form
    values = {ln.key: ln.value for ln in sections[0].lines}
    assert (values["voters_additional"], values["paper_received"], values["paper_issued_in_station"],
            values["paper_issued_outside"], values["paper_spoiled"], values["paper_unused"], values["voters_outside"],
            values["paper_found_stationary"], values["paper_found_mobile"], values["ballots_counted"]) == (
        0, RECEIVED, 3, 1, 0, 16, 1, 3, 1, 7)
    for ln in sections[0].lines:
        assert f"{ln.number} {ln.label} {ln.value}" in text, (ln, lang)
    for s in sections[1:]:
        assert s.title in text
        for ln in s.lines:  # electronic, paper, total
            assert ln.electronic is not None and ln.paper is not None and ln.electronic + ln.paper == ln.value
            assert f"{ln.number} {ln.label} {ln.electronic} {ln.paper} {ln.value}" in text, (ln, lang)
    assert f"{TEXT['electronic'][lang]} {TEXT['paper'][lang]} {TEXT['total'][lang]}" in text
    for m in paper.members.members:
        assert f"{m.title(lang)} {m.name}" in text
    assert text.count(SIGNATURE_LINE) == len(paper.members.members)
    assert text.count(TEXT["not_signed"][lang]) == len(paper.members.members)  # nobody co-signed yet at close
    for contest in result.protocol.contests:
        assert contest.contest_id not in text


def test_protocol_show_prints_the_three_protocols(paper: PaperRig, day: Station, tmp_path: Path) -> None:
    rig, count = paper.rig, right_count(paper.rig)
    day.enter_hand_count(paper.key_id(0), count)
    day.enter_hand_count(paper.key_id(1), count)
    day.close_polls(rig.shares[:K], tmp_path / "out")
    out = run("protocol", "show", tmp_path / "out" / "protocol.json", "--election", paper.dir / "election.json",
              "--lang", "ru")
    assert out.exit_code == 0, out.output
    text = out.output
    electronic, rest = text.split("== Протокол по бумажным бюллетеням")
    paper_part, combined = rest.split("== Сводный протокол (итоги голосования)")
    assert "== Протокол электронного голосования" in electronic
    assert "Число выданных карт электронного бюллетеня: 3" in electronic and "бумажн" not in electronic.lower()
    assert "Число бюллетеней, полученных участковой избирательной комиссией: 20" in paper_part
    assert "Число неиспользованных и погашенных бюллетеней: 16" in paper_part
    assert "Пустые бюллетени" not in paper_part  # a paper ballot has no blank
    assert "Общее число учтённых бюллетеней (электронных и бумажных): 7" in combined
    first = rig.election.options(count.contests[0].contest_id)[0]
    assert f"{first.name.ru}: " in combined and " / 2 / " in combined  # electronic / paper / total
    for contest in count.contests:
        assert rig.election.contest(contest.contest_id).name.ru in paper_part

