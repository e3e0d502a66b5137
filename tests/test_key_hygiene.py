"""Key hygiene (issue 11, item 9): each member's share in a place of its own, a command
that makes the card master key, and secret files refused while others may read them,
with the fix in the message (`sailau.election.secretfile`, the one rule)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.election import crypto, secretfile, shares
from sailau.election.definition import write_election

EXAMPLE = Path(__file__).parents[1] / "election" / "examples" / "majilis-2021.json"
KEYS = crypto.ElectionKeyPair.generate()
SHARES = shares.split_election_key(KEYS.private_key, 2, 3, "kz-test", KEYS.public_key_bytes)


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- sailau keys election: one destination per member ------------------------------------------


def test_election_ceremony_puts_each_share_in_a_directory_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "ceremony"
    result = run("keys", "election", "--k", "2", "--n", "3", "--election-id", "kz-test", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir() if p.is_file()] == ["election-public-key.pem"]  # no share beside the public key
    for i in (1, 2, 3):
        member = out / f"member-{i}"
        assert mode(member) == 0o700
        assert [p.name for p in member.iterdir()] == [f"share-{i}-of-3.json"]
        assert mode(member / f"share-{i}-of-3.json") == 0o600
        assert shares.read_share_file(member / f"share-{i}-of-3.json").index == i
        assert f"hand over {member}" in result.output


def test_election_ceremony_writes_to_the_destinations_members_bring(tmp_path: Path) -> None:
    media = [tmp_path / "usb-aigerim", tmp_path / "usb-bolat" / "keys", tmp_path / "usb-dana"]
    media[0].mkdir()
    args = ["keys", "election", "--k", "2", "--n", "3", "--election-id", "kz-test", "--out", str(tmp_path / "pub")]
    result = run(*args, *(a for d in media for a in ("--member-dir", str(d))))
    assert result.exit_code == 0, result.output
    for i, d in enumerate(media, start=1):
        assert [p.name for p in d.iterdir()] == [f"share-{i}-of-3.json"]
        assert mode(d / f"share-{i}-of-3.json") == 0o600
    assert mode(media[1]) == 0o700  # created for the member
    key = shares.reconstruct_from_files([media[0] / "share-1-of-3.json", media[2] / "share-3-of-3.json"],
                                        crypto.load_election_public_key(tmp_path / "pub" / "election-public-key.pem"))
    assert key is not None


@pytest.mark.parametrize(
    ("dirs", "words"),
    [
        (["a", "b"], "3 times, not 2"),
        (["a", "b", "a"], "a directory of its own"),
        (["a", "b", "pub"], "a directory of its own"),
    ],
)
def test_election_ceremony_refuses_two_shares_in_one_place(tmp_path: Path, dirs: list[str], words: str) -> None:
    args = ["keys", "election", "--k", "2", "--n", "3", "--election-id", "kz-test", "--out", str(tmp_path / "pub")]
    result = run(*args, *(a for d in dirs for a in ("--member-dir", str(tmp_path / d))))
    assert result.exit_code == 2 and words in result.output
    assert not any(tmp_path.rglob("share-*"))


def test_simulate_kit_finds_the_shares_of_a_ceremony_folder(tmp_path: Path) -> None:
    """`sailau simulate --shares DIR` reads a ceremony's member-I/ folders, and refuses
    an exposed share instead of quietly skipping it."""
    from sailau.simulator.election_kit import ElectionKitError, demo_election, election_with_shares

    kit = demo_election(tmp_path)
    folder = tmp_path / "shares"
    for share in kit.shares:
        (folder / f"member-{share.index}").mkdir(parents=True)
        shares.write_share_file(folder / f"member-{share.index}" / f"share-{share.index}.json", share)
    again = election_with_shares(kit.path, folder)
    assert again.election.fingerprint == kit.election.fingerprint
    (folder / "member-1" / "share-1.json").chmod(0o644)
    with pytest.raises(ElectionKitError, match="chmod 600"):
        election_with_shares(kit.path, folder)


# --- sailau keys card-master -------------------------------------------------------------------


def test_card_master_command_writes_a_fresh_private_key(tmp_path: Path) -> None:
    from sailau.smartcard.card_keys import master_key_file_bytes, parse_master_key

    first, second = tmp_path / "a.key", tmp_path / "b.key"
    result = run("keys", "card-master", "--out", str(first))
    assert result.exit_code == 0, result.output
    assert run("keys", "card-master", "--out", str(second), "--bytes", "16").exit_code == 0
    assert mode(first) == 0o600 and mode(second) == 0o600
    a = parse_master_key(first.read_bytes(), "a")
    b = parse_master_key(second.read_bytes(), "b")
    assert (len(a), len(b)) == (32, 16) and a[:16] != b
    assert first.read_bytes() == master_key_file_bytes(a)
    assert a.hex() not in result.output  # never printed
    again = run("keys", "card-master", "--out", str(first))
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert parse_master_key(first.read_bytes(), "a") == a


def test_a_card_master_key_from_the_command_runs_a_station(tmp_path: Path) -> None:
    from sailau.simulator.booth_rig import Rig

    rig = Rig.create(voters=3)
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    assert run("keys", "card-master", "--out", str(tmp_path / "master.key")).exit_code == 0
    init = ["station", "init", "--db", f"sqlite:///{tmp_path / 's.db'}", "--election", str(tmp_path / "election.json"),
            "--station-key", str(tmp_path / "station.pem"), "--precinct", str(rig.precinct),
            "--card-master-key", str(tmp_path / "master.key")]
    result = run(*init)
    assert result.exit_code == 0, result.output


# --- secret files are refused while others may read them ---------------------------------------


@pytest.mark.parametrize("exposed", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_every_secret_reader_refuses_an_exposed_file_with_the_fix(tmp_path: Path, exposed: int) -> None:
    master = tmp_path / "master.key"
    master.write_bytes(bytes(32).hex().encode() + b"\n")  # the card master key file format
    key = tmp_path / "station.pem"
    crypto.save_signing_key(key, crypto.generate_signing_key())
    share = tmp_path / "share.json"
    shares.write_share_file(share, SHARES[0])
    for path in (key, share, master):
        path.chmod(exposed)
    with pytest.raises(crypto.KeyFileError, match=f"mode {exposed:04o}.*chmod 600 {key}$"):
        crypto.load_signing_key(key)
    with pytest.raises(shares.ShareFileError, match=f"chmod 600 {share}$") as refused:
        shares.read_share_file(share)
    assert type(refused.value).__name__ == "ShareFileExposedError"
    public = tmp_path / "election.pem"
    crypto.save_election_public_key(public, KEYS.public_key)
    checked = run("keys", "check-shares", "--public-key", str(public), str(share), str(share))
    assert checked.exit_code == 1 and f"chmod 600 {share}" in checked.output
    served = run("station", "init", "--db", f"sqlite:///{tmp_path / 's.db'}", "--election", str(EXAMPLE),
                 "--station-key", str(key), "--precinct", "1", "--card-master-key", str(master))
    assert served.exit_code == 2 and f"chmod 600 {master}" in served.output
    for path in (key, share, master):
        path.chmod(0o600)
    assert crypto.load_signing_key(key) is not None and shares.read_share_file(share) == SHARES[0]
    key.chmod(0o400)  # read-only for the owner is private too
    assert crypto.load_signing_key(key) is not None


def test_a_wrong_file_is_named_before_chmod_is_suggested(tmp_path: Path) -> None:
    """A public key given as the station key, or a definition given as a share, is
    0644 by nature: the message names the mistake instead of asking for chmod."""
    private = crypto.generate_signing_key()
    crypto.save_verify_key(tmp_path / "station.pub", private.public_key())
    with pytest.raises(crypto.KeyFileError, match="holds a public key; the private key file is needed") as e:
        crypto.load_signing_key(tmp_path / "station.pub")
    assert "chmod" not in str(e.value)


def test_secret_files_are_never_created_readable_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        crypto.save_signing_key(tmp_path / "k.pem", crypto.generate_signing_key())
        shares.write_share_file(tmp_path / "s.json", SHARES[1])
        secretfile.write_secret_file(tmp_path / "m.key", b"x", "card master key")
        assert run("keys", "card-master", "--out", str(tmp_path / "c.key")).exit_code == 0
    finally:
        os.umask(old)
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == dict.fromkeys(["k.pem", "s.json", "m.key", "c.key"], 0o600)
    with pytest.raises(secretfile.SecretFileError, match="refusing to overwrite"):
        secretfile.write_secret_file(tmp_path / "m.key", b"y", "card master key")
    assert (tmp_path / "m.key").read_bytes() == b"x"


def test_the_demo_writes_its_secrets_private(tmp_path: Path) -> None:
    from sailau.simulator.demo import create_demo

    kit = create_demo(tmp_path, voters=3)
    try:
        secrets = [kit.station_key_path, kit.terminal_key_path, kit.card_master_key_path, *kit.share_paths]
        assert {str(p): mode(p) for p in secrets} == dict.fromkeys(map(str, secrets), 0o600)
    finally:
        kit.close()


def test_an_oversized_secret_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "huge.pem"
    with open(big, "wb") as f:
        f.truncate(10 * 1024 * 1024)
    big.chmod(0o600)
    with pytest.raises(crypto.KeyFileError, match="too large"):
        crypto.load_signing_key(big)


# --- the one card master key reader (cli/options.read_card_master_key) ------------------------


def test_the_card_master_key_reader_takes_each_format_and_refuses_in_words(tmp_path: Path) -> None:
    """`sailau ballot-box`, `sailau station init` and `sailau card` all read the key here:
    hex text (what `sailau keys card-master` writes) and raw bytes, including a raw
    16-byte key made only of hex characters, which must not be taken for hex."""
    import click
    import pytest

    from sailau.cli.options import read_card_master_key
    from sailau.smartcard.card_keys import MAX_MASTER_KEY_FILE_BYTES, master_key_file_bytes

    def key_file(name: str, data: bytes, file_mode: int = 0o600) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        path.chmod(file_mode)
        return path

    key = bytes(range(32))
    assert read_card_master_key(key_file("hex.key", master_key_file_bytes(key)), "--k") == key
    assert read_card_master_key(key_file("raw.key", key), "--k") == key
    lookalike = b"0123456789abcdef"  # 16 raw bytes, all hex characters: a raw AES-128 key
    assert read_card_master_key(key_file("look.key", lookalike), "--k") == lookalike
    refusals = {
        "exposed": (key_file("open.key", key, 0o644), "chmod 600"),
        "short": (key_file("short.key", b"0011"), "16, 24 or 32 bytes"),
        "large": (key_file("large.key", b"0" * (MAX_MASTER_KEY_FILE_BYTES + 1)), "large"),
        "missing": (tmp_path / "none.key", "cannot read"),
    }
    for name, (path, words) in refusals.items():
        with pytest.raises(click.BadParameter) as refused:
            read_card_master_key(path, "--k")
        assert words in str(refused.value), (name, str(refused.value))
        assert key.hex() not in str(refused.value)
