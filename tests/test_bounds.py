"""Bounds with names (issue 11, item 7): no input crashes or exhausts a tool.

Every file that comes from outside is read by one bounded reader
(`sailau.election.jsonfile`): size before reading (`too_large`), JSON depth
before parsing (`too_deep`), integers that fit 64 bits and counts a precinct
can have (`count_out_of_range`). The cases of the issue are reproduced on a
synthetic published set through the commands people run: `commission import`
(SQLite and PostgreSQL), `verify`, `protocol verify`, `commission report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.cli.main import cli
from sailau.commission.synth import read_table, synthesize
from sailau.election import jsonfile
from sailau.election.crypto import ed25519_public_bytes, key_id, sign
from sailau.election.protocol import canonical_json

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
N = 24
DEEP = b"[" * 3000 + b"]" * 3000  # the 6 KB file


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bounds") / "set"
    synthesize(read_table(TABLE), N, 7, out)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'commission.db'}"
    return request.getfixturevalue("postgres_url")


def _path(d: Path, n: int) -> Path:
    return d / "protocols" / f"precinct-{n:06d}.json"


def forge(d: Path, n: int, keys, voters: int) -> None:
    """What a holder of precinct n's station key can publish: a self-consistent
    protocol of `voters` voters, all for one party, validly signed, written as JSON
    (the Protocol class is not asked: an attacker does not use it)."""
    p = json.loads(_path(d, n).read_bytes())["protocol"]
    for name in ("voters_on_list", "voters_checked_in", "cards_issued", "ballots_cast"):
        p[name] = voters
    for name in ("cards_cancelled", "cards_replaced", "cards_not_returned", "voters_additional", "voters_paper",
                 "voters_outside"):
        p[name] = 0
    p.pop("paper", None)  # all by card (the synthesizer gives some precincts a paper section)
    contest = p["contests"][0]
    first = sorted(contest["votes"])[0]
    contest["votes"] = {oid: voters if oid == first else 0 for oid in contest["votes"]}
    contest["against_all"] = contest["blank"] = contest["invalid"] = 0
    # A commitment to `voters` receipt codes: consistent with the counts; no list of
    # that many codes is published, so `receipts:missing` names the precinct.
    p["receipts"] = {"count": voters, "root": hashlib.sha256(b"forged %d" % n).hexdigest()}
    public = ed25519_public_bytes(keys[n].public_key())
    signed = {"format": "sailau/signed-protocol", "version": p["version"], "protocol": p,
              "station_key_id": key_id(public).hex(), "public_key": public.hex(),
              "signature": sign(keys[n], canonical_json(p)).hex()}
    _path(d, n).write_bytes(canonical_json(signed))


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _import(d: Path, db_url: str):
    return run("commission", "import", str(d), "--db", db_url)


# --- the cases ---------------------------------------------------------------------------


def test_deeply_nested_protocol_is_refused_too_deep_by_import_verify_and_protocol_verify(published: Path, db_url: str) -> None:
    _path(published, 1).write_bytes(DEEP)
    imported = _import(published, db_url)
    assert imported.exit_code == 1
    assert "refused (too_deep)" in imported.output and f"imported {N - 1}, unchanged 0, refused 1" in imported.output
    verified = run("verify", str(published))
    assert verified.exit_code == 1 and "[refused:too_deep]" in verified.output
    alone = run("protocol", "verify", str(_path(published, 1)))
    assert alone.exit_code == 1 and "refused (too_deep)" in alone.output


@pytest.mark.parametrize("voters", [10**30, 2**62, 10**8 + 1])
def test_a_count_beyond_any_precinct_is_refused_and_the_chunk_imports(published: Path, keys, db_url: str, voters: int) -> None:
    """10^30 once rolled back its whole chunk of 500 (OverflowError); 2^62 imported and
    broke `commission report`. Now each is `count_out_of_range` and the rest imports."""
    forge(published, 3, keys, voters)
    forge(published, 4, keys, voters)
    imported = _import(published, db_url)
    assert imported.exit_code == 1, imported.output
    assert imported.output.count("refused (count_out_of_range)") == 2
    assert f"imported {N - 2}, unchanged 0, refused 2" in imported.output
    report = run("commission", "report", "--db", db_url)
    assert report.exit_code == 0 and f"{N - 2} of {N} precincts reported" in report.output
    verified = run("verify", str(published))
    assert verified.exit_code == 1
    assert verified.output.count("[refused:count_out_of_range]") == 2 and "[missing]" in verified.output
    alone = run("protocol", "verify", str(_path(published, 3)), "--election", str(published / "election.json"))
    assert alone.exit_code == 1 and "refused (count_out_of_range)" in alone.output


def test_counts_at_the_bound_import_and_report_without_overflow(published: Path, keys, db_url: str) -> None:
    """Report arithmetic cannot overflow: every count is at most MAX_PRECINCT_COUNT and
    precinct numbers are u32, so any SQL SUM stays below 2^63."""
    from sailau.election.definition import PRECINCT_NUMBER_MAX
    from sailau.election.protocol import MAX_PRECINCT_COUNT

    assert MAX_PRECINCT_COUNT * PRECINCT_NUMBER_MAX < jsonfile.INT64_MAX
    for n in range(1, N + 1):
        forge(published, n, keys, MAX_PRECINCT_COUNT)
    shutil.rmtree(published / "receipts")  # no list of 10^8 codes per precinct is written here
    imported = _import(published, db_url)
    assert imported.exit_code == 0 and f"imported {N}, unchanged 0, refused 0" in imported.output, imported.output
    out = run("commission", "report", "--db", db_url, "--json", "-")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["counts"]["ballots_cast"] == N * MAX_PRECINCT_COUNT
    assert sum(report["totals"].values()) == N * MAX_PRECINCT_COUNT


def test_a_102_mb_protocol_is_refused_unread(published: Path, db_url: str) -> None:
    """It took 45 s and 2 GB; now it is measured with fstat and never read."""
    big = _path(published, 2)
    raw = big.read_bytes()
    with open(big, "r+b") as f:  # the real protocol, then 102 MB of padding (sparse: nothing is written)
        f.truncate(102 * 1024 * 1024)
    start = time.monotonic()
    imported = _import(published, db_url)
    verified = run("verify", str(published))
    alone = run("protocol", "verify", str(big))
    assert time.monotonic() - start < 20
    assert "refused (too_large)" in imported.output and f"imported {N - 1}" in imported.output
    assert "[refused:too_large]" in verified.output
    assert alone.exit_code == 1 and "refused (too_large)" in alone.output and "106,954,752 bytes" in alone.output
    assert raw.startswith(b'{"format":"sailau/signed-protocol"')


# --- every other reader --------------------------------------------------------------------------


def test_deep_registry_definition_and_report_are_refused_by_name(published: Path, tmp_path: Path) -> None:
    station = published / "stations.json"
    saved = station.read_bytes()
    station.write_bytes(DEEP)
    for args in (("verify", str(published)), ("commission", "import", str(published), "--db", f"sqlite:///{tmp_path / 'c.db'}")):
        out = run(*args)
        assert out.exit_code != 0 and "too_deep" in out.output, out.output
    station.write_bytes(saved)
    official = tmp_path / "official.json"
    official.write_bytes(DEEP)
    out = run("verify", str(published), "--report", str(official))
    assert out.exit_code == 2 and "cannot read the official report (too_deep)" in out.output
    (published / "election.json").write_bytes(b'{"format": "sailau/election", "parties": ' + DEEP + b"}")
    out = run("verify", str(published))
    assert out.exit_code == 2 and "nested 3001 levels deep" in out.output


def test_receipt_lists_out_of_bounds_are_named_findings(published: Path) -> None:
    from sailau.election.receipts import MAX_RECEIPT_LIST_BYTES

    (published / "receipts" / "precinct-000001.json").write_bytes(DEEP)  # synth publishes every list
    with open(published / "receipts" / "precinct-000002.json", "wb") as f:
        f.truncate(MAX_RECEIPT_LIST_BYTES + 1)
    out = run("verify", str(published))
    assert "[receipts:too_deep]" in out.output and "[receipts:too_large]" in out.output


def test_seats_share_and_audit_readers_refuse_deep_files(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"law": "kz-majilis-2009", "parties": ' + DEEP + b"}")
    out = run("seats", str(deep))
    assert out.exit_code == 1 and "refused (too_deep)" in out.output
    share = tmp_path / "share.json"
    share.write_bytes(DEEP)
    share.chmod(0o600)
    out = run("keys", "check-shares", "--public-key", str(deep), str(share))
    assert out.exit_code == 1
    from sailau.election.shares import ShareFileError, read_share_file

    with pytest.raises(ShareFileError, match="nested 3000 levels deep"):
        read_share_file(share)
    log = tmp_path / "audit.jsonl"
    log.write_bytes(DEEP + b"\n")
    out = run("audit", "verify", "--file", str(log))
    assert out.exit_code == 1 and "nested 3000 levels deep" in out.output


@pytest.mark.timeout(60)
def test_a_fifo_never_hangs_a_reader(published: Path, tmp_path: Path) -> None:
    fifo = _path(published, 5)
    fifo.unlink()
    os.mkfifo(fifo)  # nobody writes: a blocking open would wait forever
    out = run("commission", "import", str(published), "--db", f"sqlite:///{tmp_path / 'c.db'}")
    assert out.exit_code == 1 and "refused (format): cannot read file (not a regular file)" in out.output
    assert f"imported {N - 1}" in out.output
    verified = run("verify", str(published))
    assert "[refused:format]" in verified.output and "not a regular file" in verified.output


# --- the reader itself ---------------------------------------------------------------------------


def test_read_bounded_measures_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    assert jsonfile.read_bounded(f, 100, "a thing") == b"x" * 100
    with pytest.raises(jsonfile.TooLargeError, match="100 bytes, at most 99") as e:
        jsonfile.read_bounded(f, 99, "a thing")
    assert e.value.reason == "too_large"
    seen = []
    with pytest.raises(OSError, match="not a regular file"):
        jsonfile.read_bounded(tmp_path, 10, "a thing", check_stat=seen.append)
    assert seen == []


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b'{"a": 1, "a": 2}', "malformed", "duplicate key 'a'"),
        (b"[1.5]", "malformed", "whole numbers"),
        (b"[NaN]", "malformed", "NaN is not allowed"),
        (b"[9223372036854775808]", "count_out_of_range", "does not fit a 64-bit integer"),
        (b"[-9223372036854775809]", "count_out_of_range", "does not fit a 64-bit integer"),
        (b"[" + b"7" * 5000 + b"]", "count_out_of_range", "(5000 digits)"),
        (b"\xff", "malformed", "not UTF-8"),
        (b"[" * 33 + b"]" * 33, "too_deep", "33 levels deep, at most 32"),
    ],
)
def test_parse_json_names_each_refusal(raw: bytes, reason: str, words: str) -> None:
    with pytest.raises(jsonfile.InputError) as e:
        jsonfile.parse_json(raw, "f.json")
    assert e.value.reason == reason and words in str(e.value) and str(e.value).startswith("f.json: ")


def test_parse_json_keeps_what_is_in_bounds() -> None:
    assert jsonfile.parse_json(b"[9223372036854775807, -9223372036854775808]") == [2**63 - 1, -(2**63)]
    assert jsonfile.parse_json(b"[" * 32 + b"]" * 32) is not None
    assert jsonfile.parse_json(b'{"p": 63.25}', integers_only=False) == {"p": 63.25}
    assert jsonfile.parse_json('["' + "[" * 45 + '\\"{{{{"]') == ["[" * 45 + '"{{{{']


json_values = st.recursive(
    st.none() | st.integers(-10, 10) | st.text(alphabet='[]{}"\\ab,:\n\u2028', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3),
    max_leaves=40,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_json_depth_is_the_nesting_depth_whatever_the_strings_hold(value, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert jsonfile.json_depth(text) == _depth(value)
    assert jsonfile.json_depth(text.encode("utf-8")) == _depth(value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}"\\ ,:1u0', max_size=60))
def test_json_depth_is_exact_on_any_text_json_accepts(text: str) -> None:
    """Any spelling the parser takes (escapes, \\u sequences, whitespace): the scan
    measures exactly the depth of what the parser builds."""
    try:
        value = json.loads(text)
    except ValueError:
        return
    assert jsonfile.json_depth(text) == _depth(value)


@pytest.mark.parametrize("raw", [b"[]", b'{"format": "x/other", "version": 1}', b'{"format": "x/kind", "version": 2}', b'{"version": 1}'])
def test_parse_headed_refuses_a_file_of_another_format_by_name(raw):
    with pytest.raises(jsonfile.WrongFormatError, match=r"^f\.json: not a x/kind v1 file$") as e:
        jsonfile.parse_headed(raw, "f.json", "x/kind", 1, max_bytes=100, what="a test file")
    assert e.value.reason == "format"


def test_parse_headed_keeps_the_bounds_of_parse_json():
    with pytest.raises(jsonfile.TooLargeError):
        jsonfile.parse_headed(b'{"format": "x/kind", "version": 1}', "f.json", "x/kind", 1, max_bytes=10, what="a test file")
    assert jsonfile.parse_headed(b'{"format": "x/kind", "version": 1, "a": 2}', "f.json", "x/kind", 1,
                                 max_bytes=100, what="a test file") == {"format": "x/kind", "version": 1, "a": 2}
