"""Ballot crypto: HPKE seal/open, Ed25519 keys and key files, `sailau keys terminal/station`."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from click.testing import CliRunner
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.cli.main import cli
from sailau.election import crypto

ELECTION = crypto.ElectionKeyPair.generate()


# --- HPKE ---------------------------------------------------------------------------


def test_suite_matches_rfc9180_a11_test_vector() -> None:
    """RFC 9180 A.1.1 (X25519, HKDF-SHA256, AES-128-GCM, base mode), sequence 0.

    The single-shot API has no aad; the vector's first message uses aad "Count-0",
    so this reaches the binding's aad variant of the same suite object.
    """
    sk_r = bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
    pk_r = bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
    enc = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
    info = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")
    aad = b"Count-0"
    ct = bytes.fromhex(
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
    )
    pair = crypto.ElectionKeyPair.from_private_bytes(sk_r)
    assert pair.public_key_bytes == pk_r
    pt = rust_openssl.hpke._decrypt_with_aad(crypto.HPKE_SUITE, enc + ct, pair.private_key, info, aad)
    assert pt == b"Beauty is truth, truth beauty"


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=200), info=st.binary(max_size=120))
def test_seal_open_round_trip(plaintext: bytes, info: bytes) -> None:
    enc, ciphertext = crypto.seal(ELECTION.public_key_bytes, plaintext, info)
    assert len(enc) == crypto.ENC_LEN == 32
    assert len(ciphertext) == len(plaintext) + crypto.AEAD_TAG_LEN
    assert crypto.open_sealed(ELECTION.private_key, enc, ciphertext, info) == plaintext


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=64), info=st.binary(max_size=64), other=st.binary(max_size=64))
def test_open_with_wrong_info_fails(plaintext: bytes, info: bytes, other: bytes) -> None:
    if other == info:
        other = info + b"\x00"
    enc, ciphertext = crypto.seal(ELECTION.public_key, plaintext, info)
    with pytest.raises(crypto.DecryptionError, match="wrong info"):
        crypto.open_sealed(ELECTION.private_key, enc, ciphertext, other)


def test_open_with_wrong_key_or_tampered_fails() -> None:
    enc, ciphertext = crypto.seal(ELECTION.public_key_bytes, b"\x01\x02", b"info")
    other = crypto.ElectionKeyPair.generate()
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(other.private_key, enc, ciphertext, b"info")
    for i in range(len(ciphertext)):
        bad = bytearray(ciphertext)
        bad[i] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.open_sealed(ELECTION.private_key, enc, bytes(bad), b"info")
    bad_enc = bytearray(enc)
    bad_enc[0] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(ELECTION.private_key, bytes(bad_enc), ciphertext, b"info")
    with pytest.raises(crypto.DecryptionError, match="enc must be 32"):
        crypto.open_sealed(ELECTION.private_key, enc[:31], ciphertext, b"info")
    with pytest.raises(crypto.DecryptionError, match="at least 16"):
        crypto.open_sealed(ELECTION.private_key, enc, ciphertext[:15], b"info")


def test_seal_is_randomized() -> None:
    a = crypto.seal(ELECTION.public_key_bytes, b"same", b"info")
    b = crypto.seal(ELECTION.public_key_bytes, b"same", b"info")
    assert a[0] != b[0] and a[1] != b[1]


def test_election_key_bytes_are_checked() -> None:
    with pytest.raises(crypto.KeyFormatError, match="32 raw bytes, got 31"):
        crypto.seal(b"\x00" * 31, b"x", b"")
    with pytest.raises(crypto.KeyFormatError, match="private key must be 32"):
        crypto.ElectionKeyPair.from_private_bytes(b"\x00" * 33)
    again = crypto.ElectionKeyPair.from_private_bytes(ELECTION.private_key_bytes)
    assert again.public_key_bytes == ELECTION.public_key_bytes


# --- Ed25519 ---------------------------------------------------------------------------


def test_sign_verify_and_key_id() -> None:
    key = crypto.generate_signing_key()
    raw = crypto.ed25519_public_bytes(key.public_key())
    assert crypto.key_id(key.public_key()) == hashlib.sha256(raw).digest()[:8]
    assert crypto.key_id(raw) == crypto.key_id(key.public_key())
    signature = crypto.sign(key, b"message")
    assert len(signature) == crypto.SIGNATURE_LEN
    crypto.verify_signature(key.public_key(), signature, b"message")
    with pytest.raises(crypto.SignatureError, match="does not verify"):
        crypto.verify_signature(key.public_key(), signature, b"messagf")
    with pytest.raises(crypto.SignatureError, match="does not verify"):
        crypto.verify_signature(crypto.generate_signing_key().public_key(), signature, b"message")
    with pytest.raises(crypto.SignatureError, match="64 bytes"):
        crypto.verify_signature(key.public_key(), signature[:63], b"message")
    with pytest.raises(crypto.KeyFormatError):
        crypto.key_id(raw[:31])


def test_signing_key_files_round_trip(tmp_path) -> None:
    key = crypto.generate_signing_key()
    crypto.save_signing_key(tmp_path / "t.key", key)
    crypto.save_verify_key(tmp_path / "t.pub", key.public_key())
    assert stat.S_IMODE(os.stat(tmp_path / "t.key").st_mode) == 0o600
    assert (tmp_path / "t.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = crypto.load_signing_key(tmp_path / "t.key")
    public = crypto.load_verify_key(tmp_path / "t.pub")
    crypto.verify_signature(public, crypto.sign(loaded, b"m"), b"m")
    # raw 32-byte files are accepted too
    (tmp_path / "raw.pub").write_bytes(crypto.ed25519_public_bytes(key.public_key()))
    assert crypto.key_id(crypto.load_verify_key(tmp_path / "raw.pub")) == crypto.key_id(key.public_key())


def test_key_file_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(crypto.KeyFileError, match="not found"):
        crypto.load_signing_key(tmp_path / "missing.key")
    (tmp_path / "junk").write_bytes(b"hello")
    with pytest.raises(crypto.KeyFileError, match="got 5 bytes"):
        crypto.load_verify_key(tmp_path / "junk")
    (tmp_path / "bad.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(crypto.KeyFileError, match="not a readable PEM"):
        crypto.load_verify_key(tmp_path / "bad.pem")
    crypto.save_election_public_key(tmp_path / "election.pem", ELECTION.public_key)
    with pytest.raises(crypto.KeyFileError, match="X25519PublicKey, expected an Ed25519"):
        crypto.load_verify_key(tmp_path / "election.pem")
    assert crypto.load_election_public_key(tmp_path / "election.pem").public_bytes_raw() == (
        ELECTION.public_key_bytes
    )
    key = crypto.generate_signing_key()
    crypto.save_signing_key(tmp_path / "t.key", key)
    with pytest.raises(crypto.KeyFileError, match="refusing to overwrite"):
        crypto.save_signing_key(tmp_path / "t.key", crypto.generate_signing_key())
    assert crypto.key_id(crypto.load_signing_key(tmp_path / "t.key").public_key()) == crypto.key_id(
        key.public_key()
    )


# --- CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["terminal", "station"])
def test_cli_signing_key(tmp_path, role: str) -> None:
    runner = CliRunner()
    out = tmp_path / f"{role}.key"
    result = runner.invoke(cli, ["keys", role, "--out", str(out)])
    assert result.exit_code == 0, result.output
    private = crypto.load_signing_key(out)
    public = crypto.load_verify_key(tmp_path / f"{role}.pub")
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert crypto.ed25519_public_bytes(public) == crypto.ed25519_public_bytes(private.public_key())
    assert f"{role} key id {crypto.key_id(public).hex()}" in result.output
    again = runner.invoke(cli, ["keys", role, "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert crypto.load_signing_key(out).private_bytes_raw() == private.private_bytes_raw()


def test_cli_keys_help() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "--help"])
    assert result.exit_code == 0
    for name in ("election", "terminal", "station", "check-shares"):
        assert name in result.output
    assert "keys" in runner.invoke(cli, ["--help"]).output
    terminal_help = runner.invoke(cli, ["keys", "terminal", "--help"]).output
    assert "key id" in terminal_help and "--out" in terminal_help



def test_verify_enclosed_checks_key_id_then_enrolment_then_signature():
    """The order callers rely on: a forged key id is named before the caller's
    enrolment check runs, and the enrolment check runs before the signature."""
    key = crypto.generate_signing_key()
    public = crypto.ed25519_public_bytes(key.public_key())
    kid = crypto.key_id(public)
    message = b"canonical bytes"
    good = crypto.sign(key, message)
    calls: list[str] = []

    def enrolled() -> None:
        calls.append("enrolled")
        raise LookupError("not enrolled")

    with pytest.raises(crypto.KeyIdMismatch, match="does not name the enclosed public key"):
        crypto.verify_enclosed(bytes(8), public, good, message, enrolled)
    assert calls == []
    with pytest.raises(LookupError):
        crypto.verify_enclosed(kid, public, b"\0" * crypto.SIGNATURE_LEN, message, enrolled)
    assert calls == ["enrolled"]
    with pytest.raises(crypto.SignatureError) as bad:
        crypto.verify_enclosed(kid, public, good, message + b"!")
    assert not isinstance(bad.value, crypto.KeyIdMismatch)
    crypto.verify_enclosed(kid, public, good, message)
