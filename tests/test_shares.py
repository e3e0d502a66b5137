"""Election key ceremony: k-of-n SLIP-39 shares, share files, `sailau keys election`."""

from __future__ import annotations

import itertools
import json
import os
import stat

import pytest
import shamir_mnemonic
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.cli.main import cli
from sailau.election import crypto, record, shares
from sailau.election.shares import (
    BadMnemonicError,
    DuplicateShareError,
    MismatchedShareError,
    NotEnoughSharesError,
    ShareFileError,
    ShareParameterError,
    WrongElectionKeyError,
)

PAIR = crypto.ElectionKeyPair.generate()
SHARES = shares.split_election_key(PAIR.private_key, 3, 5, "kz-majilis-2023", PAIR.public_key_bytes)
OTHER = crypto.ElectionKeyPair.generate()
OTHER_SHARES = shares.split_election_key(OTHER.private_key, 3, 5, "kz-majilis-2024", OTHER.public_key_bytes)


def _raw(key) -> bytes:
    return crypto.ElectionKeyPair(key).private_key_bytes


def test_split_produces_n_labelled_shares() -> None:
    assert [s.index for s in SHARES] == [1, 2, 3, 4, 5]
    assert {(s.k, s.n, s.election_id, s.election_public_key) for s in SHARES} == {
        (3, 5, "kz-majilis-2023", PAIR.public_key_bytes)
    }
    assert all(len(s.mnemonic.split()) == 33 for s in SHARES)
    assert len({s.mnemonic for s in SHARES}) == 5
    # the secret itself is in no share
    assert all(PAIR.private_key_bytes.hex() not in s.to_json() for s in SHARES)


def test_any_k_of_n_reconstruct() -> None:
    for subset in itertools.combinations(SHARES, 3):
        for ordering in (subset, subset[::-1]):
            key = shares.reconstruct_election_key(ordering, PAIR.public_key_bytes, "kz-majilis-2023")
            assert _raw(key) == PAIR.private_key_bytes


def test_more_than_k_shares_use_the_first_k() -> None:
    key = shares.reconstruct_election_key(SHARES, PAIR.public_key)
    assert _raw(key) == PAIR.private_key_bytes


def test_k_minus_one_shares_refuse() -> None:
    for subset in itertools.combinations(SHARES, 2):
        with pytest.raises(NotEnoughSharesError, match="2 distinct share\\(s\\) given, 3 needed"):
            shares.reconstruct_election_key(subset, PAIR.public_key_bytes)
    with pytest.raises(NotEnoughSharesError, match="no shares"):
        shares.reconstruct_election_key([], PAIR.public_key_bytes)


def test_typed_mnemonics_reconstruct() -> None:
    typed = ["  " + SHARES[0].mnemonic.upper(), SHARES[2].mnemonic.replace(" ", "\n"), SHARES[4].mnemonic]
    key = shares.reconstruct_election_key(typed, PAIR.public_key_bytes)
    assert _raw(key) == PAIR.private_key_bytes
    # files and typed mnemonics mix
    key = shares.reconstruct_election_key([SHARES[1], SHARES[3].mnemonic, SHARES[4]], PAIR.public_key_bytes)
    assert _raw(key) == PAIR.private_key_bytes


def test_mixing_two_elections_refuses() -> None:
    with pytest.raises(MismatchedShareError, match="another election key"):
        shares.reconstruct_election_key([SHARES[0], SHARES[1], OTHER_SHARES[2]], PAIR.public_key_bytes)
    # typed mnemonics carry no public key: SLIP-39's identifier tells the splits apart
    typed = [SHARES[0].mnemonic, SHARES[1].mnemonic, OTHER_SHARES[2].mnemonic]
    with pytest.raises(MismatchedShareError, match="different key split"):
        shares.reconstruct_election_key(typed, PAIR.public_key_bytes)
    with pytest.raises(MismatchedShareError, match="not 'kz-majilis-2024'"):
        shares.reconstruct_election_key(SHARES[:3], PAIR.public_key_bytes, election_id="kz-majilis-2024")


def test_shares_of_another_key_refuse_even_when_complete() -> None:
    typed = [s.mnemonic for s in OTHER_SHARES[:3]]
    with pytest.raises(WrongElectionKeyError, match="not the election public key"):
        shares.reconstruct_election_key(typed, PAIR.public_key_bytes)


def test_second_ceremony_for_same_election_does_not_mix() -> None:
    again = shares.split_election_key(PAIR.private_key, 3, 5, "kz-majilis-2023", PAIR.public_key_bytes)
    with pytest.raises(MismatchedShareError):
        shares.reconstruct_election_key([SHARES[0], SHARES[1], again[2]], PAIR.public_key_bytes)


def test_duplicates_refuse() -> None:
    with pytest.raises(DuplicateShareError, match="same member's share"):
        shares.reconstruct_election_key([SHARES[0], SHARES[1], SHARES[1]], PAIR.public_key_bytes)
    with pytest.raises(DuplicateShareError):
        shares.reconstruct_election_key(
            [SHARES[0], SHARES[0].mnemonic, SHARES[2]], PAIR.public_key_bytes
        )


def _swap_word(mnemonic: str, position: int) -> str:
    words = mnemonic.split()
    wordlist = shamir_mnemonic.wordlist.WORDLIST
    words[position] = wordlist[(wordlist.index(words[position]) + 1) % len(wordlist)]
    return " ".join(words)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=32))
def test_a_typo_in_any_word_is_caught_by_the_checksum(position: int) -> None:
    typo = _swap_word(SHARES[1].mnemonic, position)
    with pytest.raises(BadMnemonicError, match="Check each word against the paper share"):
        shares.reconstruct_election_key([SHARES[0], typo, SHARES[2]], PAIR.public_key_bytes)


def test_typo_messages_are_clear() -> None:
    typo = _swap_word(SHARES[1].mnemonic, 20)
    with pytest.raises(BadMnemonicError) as err:
        shares.reconstruct_election_key([SHARES[0].mnemonic, typo, SHARES[2].mnemonic], PAIR.public_key_bytes)
    assert "share #2 (typed)" in str(err.value) and "checksum" in str(err.value)
    assert "Check each word against the paper share" in str(err.value)
    words = SHARES[1].mnemonic.split()
    words[5] = "sailau"
    with pytest.raises(BadMnemonicError, match="Invalid mnemonic word 'sailau'"):
        shares.parse_mnemonic(" ".join(words))
    with pytest.raises(BadMnemonicError, match="length"):
        shares.parse_mnemonic(" ".join(SHARES[1].mnemonic.split()[:-1]))


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=2, max_value=7).flatmap(lambda n: st.tuples(st.integers(2, n), st.just(n))))
def test_split_parameters_round_trip(kn: tuple[int, int]) -> None:
    k, n = kn
    pair = crypto.ElectionKeyPair.generate()
    made = shares.split_election_key(pair.private_key, k, n, "e", pair.public_key_bytes)
    assert len(made) == n
    assert _raw(shares.reconstruct_election_key(made[n - k :], pair.public_key_bytes)) == pair.private_key_bytes
    with pytest.raises(NotEnoughSharesError):
        shares.reconstruct_election_key(made[: k - 1], pair.public_key_bytes)


def test_split_parameters_are_checked() -> None:
    with pytest.raises(ShareParameterError, match="between 1 and n"):
        shares.split_election_key(PAIR.private_key, 4, 3, "e", PAIR.public_key_bytes)
    with pytest.raises(ShareParameterError, match="1 to 16 shares"):
        shares.split_election_key(PAIR.private_key, 3, 17, "e", PAIR.public_key_bytes)
    with pytest.raises(ShareParameterError, match="any single member"):
        shares.split_election_key(PAIR.private_key, 1, 3, "e", PAIR.public_key_bytes)
    with pytest.raises(WrongElectionKeyError):
        shares.split_election_key(PAIR.private_key, 2, 3, "e", OTHER.public_key_bytes)
    (only,) = shares.split_election_key(PAIR.private_key, 1, 1, "e", PAIR.public_key_bytes)
    assert _raw(shares.reconstruct_election_key([only], PAIR.public_key_bytes)) == PAIR.private_key_bytes


def test_reconstructed_key_opens_ballots() -> None:
    block = record.new_issue_block(bytes(32), 1, 1)
    terminal = crypto.generate_signing_key()
    rec = record.seal_ballot(block, b"\x02\x00", PAIR.public_key_bytes, terminal)
    key = shares.reconstruct_election_key(SHARES[2:], PAIR.public_key_bytes)
    assert record.open_ballot(record.SealedBallot.from_record(block, rec), key) == b"\x02\x00"


# --- share files ------------------------------------------------------------------------------


def test_share_file_round_trip(tmp_path) -> None:
    for share in SHARES:
        shares.write_share_file(tmp_path / f"{share.index}.json", share)
    assert stat.S_IMODE(os.stat(tmp_path / "1.json").st_mode) == 0o600
    loaded = [shares.read_share_file(tmp_path / f"{i}.json") for i in (1, 2, 3, 4, 5)]
    assert loaded == SHARES
    obj = json.loads((tmp_path / "1.json").read_text())
    assert obj["format"] == "sailau-election-key-share/v1"
    assert obj["election_public_key"] == PAIR.public_key_bytes.hex()
    key = shares.reconstruct_from_files([tmp_path / "5.json", tmp_path / "1.json", tmp_path / "3.json"], PAIR.public_key)
    assert _raw(key) == PAIR.private_key_bytes
    with pytest.raises(ShareFileError, match="refusing to overwrite"):
        shares.write_share_file(tmp_path / "1.json", SHARES[1])
    assert shares.read_share_file(tmp_path / "1.json") == SHARES[0]


def test_share_file_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(ShareFileError, match="not found"):
        shares.read_share_file(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "a.json").chmod(0o600)
    with pytest.raises(ShareFileError, match="malformed JSON"):
        shares.read_share_file(tmp_path / "a.json")
    good = json.loads(SHARES[0].to_json())
    cases = {
        "format is 'other'": {**good, "format": "other"},
        "field 'k' missing or not a int": {**good, "k": "3"},
        "election_public_key is not hex": {**good, "election_public_key": "zz"},
        "election_public_key is 31 bytes": {**good, "election_public_key": "00" * 31},
        "the mnemonic says share 1": {**good, "index": 2},
        "share #|checksum": {**good, "mnemonic": _swap_word(good["mnemonic"], 10)},
    }
    for i, (message, obj) in enumerate(cases.items()):
        path = tmp_path / f"case{i}.json"
        path.write_text(json.dumps(obj))
        path.chmod(0o600)
        with pytest.raises((ShareFileError, BadMnemonicError), match=message):
            shares.read_share_file(path)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_election_ceremony(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "ceremony"
    result = runner.invoke(cli, ["keys", "election", "--k", "3", "--n", "5", "--election-id", "kz-2023", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["election-public-key.pem"] + [f"member-{i}" for i in range(1, 6)]
    share_path = {i: out / f"member-{i}" / f"share-{i}-of-5.json" for i in range(1, 6)}
    assert all(sorted(p.name for p in share_path[i].parent.iterdir()) == [share_path[i].name] for i in share_path)
    public = crypto.load_election_public_key(out / "election-public-key.pem")
    public_bytes = crypto.x25519_public_bytes(public)
    assert f"public key {public_bytes.hex()}" in result.output
    made = [shares.read_share_file(share_path[i]) for i in range(1, 6)]
    assert {(s.election_id, s.k, s.n, s.election_public_key) for s in made} == {("kz-2023", 3, 5, public_bytes)}
    key = shares.reconstruct_election_key(made[1:4], public, "kz-2023")
    secret = crypto.ElectionKeyPair(key).private_key_bytes
    # the private key was never written, in any encoding we know
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret not in data and secret.hex().encode() not in data
    assert secret.hex() not in result.output

    ok = runner.invoke(cli, ["keys", "check-shares", "--public-key", str(out / "election-public-key.pem"),
                             *(str(share_path[i]) for i in (2, 4, 5))])
    assert ok.exit_code == 0 and "ok: 3 share file(s)" in ok.output
    short = runner.invoke(cli, ["keys", "check-shares", "--public-key", str(out / "election-public-key.pem"),
                                str(share_path[1]), str(share_path[2])])
    assert short.exit_code != 0 and "3 needed" in short.output

    again = runner.invoke(cli, ["keys", "election", "--k", "3", "--n", "5", "--election-id", "kz-2023", "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert shares.read_share_file(share_path[1]) == made[0]


def test_cli_election_refuses_bad_parameters(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "election", "--k", "6", "--n", "5", "--election-id", "x", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "between 1 and n = 5" in result.output
    assert not (tmp_path / "c").exists()
    help_text = runner.invoke(cli, ["keys", "election", "--help"]).output
    assert "never written" in help_text and "--election-id" in help_text
