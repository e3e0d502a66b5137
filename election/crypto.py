"""Ballot crypto: the election key (X25519 + HPKE) and terminal/station keys (Ed25519).

Thin, typed wrappers over `cryptography` so every component uses one suite and
one set of error names; nothing here is a hand-written primitive.

- Election key: HPKE (RFC 9180) base mode, X25519 / HKDF-SHA256 / AES-128-GCM.
  Terminals seal ballots to the public key; only k of n commission shares bring
  the private key back (see `shares.py`).
- Terminal and station keys: Ed25519. A key is named on the card by its key id,
  the first 8 bytes of SHA-256 of the raw 32-byte public key.
- Key files: PEM (PKCS#8 private, SubjectPublicKeyInfo public); loaders also take
  a raw 32-byte file. Errors name the file and the problem. A private key file is
  a secret file (`secretfile.py`): written 0600, and refused when group or others
  may read it, with the fix (`chmod 600 FILE`) in the message. Every key file is
  read within `MAX_KEY_FILE_BYTES`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from . import jsonfile, secretfile

HPKE_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
ENC_LEN = KEM.X25519.enc_length()  # 32: the ephemeral X25519 public key
AEAD_TAG_LEN = 16  # AES-128-GCM tag
X25519_KEY_LEN = 32
ED25519_PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
KEY_ID_LEN = 8
#: A PEM Ed25519/X25519 key is about 120 bytes; no key file is anywhere near this.
MAX_KEY_FILE_BYTES = 64 * 1024


class CryptoError(Exception):
    """Base of every error raised by the ballot crypto."""


class KeyFormatError(CryptoError):
    """Key bytes or a key file are not the kind of key expected."""


class KeyFileError(KeyFormatError):
    """A key file is missing, unreadable, of the wrong kind, or would be overwritten."""


class DecryptionError(CryptoError):
    """HPKE open failed: wrong private key, wrong info, or tampered enc/ciphertext."""


class SignatureError(CryptoError):
    """An Ed25519 signature does not verify under the given public key."""


class KeyIdMismatch(SignatureError):
    """A key id that is not the id of the public key it travels with."""


# --- election key (X25519, HPKE) -------------------------------------------


@dataclass(frozen=True)
class ElectionKeyPair:
    """The election decryption key and its public half (what terminals seal to)."""

    private_key: x25519.X25519PrivateKey

    @classmethod
    def generate(cls) -> ElectionKeyPair:
        return cls(x25519.X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> ElectionKeyPair:
        return cls(election_private_key_from_bytes(raw))

    @property
    def public_key(self) -> x25519.X25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_key_bytes(self) -> bytes:
        return x25519_public_bytes(self.public_key)

    @property
    def private_key_bytes(self) -> bytes:
        """The 32 raw secret bytes (the SLIP-39 master secret); never write these to disk."""
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )


def x25519_public_bytes(public_key: x25519.X25519PublicKey) -> bytes:
    return _raw_public_bytes(public_key)


def election_public_key_from_bytes(raw: bytes) -> x25519.X25519PublicKey:
    return _public_key_from_raw(x25519.X25519PublicKey, raw, X25519_KEY_LEN, "election")


def election_private_key_from_bytes(raw: bytes) -> x25519.X25519PrivateKey:
    if len(raw) != X25519_KEY_LEN:
        raise KeyFormatError(
            f"election private key must be {X25519_KEY_LEN} raw bytes, got {len(raw)}"
        )
    return x25519.X25519PrivateKey.from_private_bytes(raw)


def _as_x25519_public(key: bytes | x25519.X25519PublicKey) -> x25519.X25519PublicKey:
    if isinstance(key, x25519.X25519PublicKey):
        return key
    return election_public_key_from_bytes(bytes(key))


def seal(
    public_key: bytes | x25519.X25519PublicKey, plaintext: bytes, info: bytes
) -> tuple[bytes, bytes]:
    """HPKE-seal `plaintext` to the election public key; returns (enc, ciphertext).

    `info` is bound into the key schedule: opening needs the same bytes again.
    The ciphertext is len(plaintext) + 16 bytes, enc is 32.
    """
    sealed = HPKE_SUITE.encrypt(plaintext, _as_x25519_public(public_key), info=info)
    return sealed[:ENC_LEN], sealed[ENC_LEN:]


def open_sealed(
    private_key: x25519.X25519PrivateKey, enc: bytes, ciphertext: bytes, info: bytes
) -> bytes:
    """Open what `seal` produced; raises DecryptionError on any mismatch or tampering."""
    if len(enc) != ENC_LEN:
        raise DecryptionError(f"HPKE enc must be {ENC_LEN} bytes, got {len(enc)}")
    if len(ciphertext) < AEAD_TAG_LEN:
        raise DecryptionError(
            f"HPKE ciphertext must be at least {AEAD_TAG_LEN} bytes (the AEAD tag), "
            f"got {len(ciphertext)}"
        )
    try:
        return HPKE_SUITE.decrypt(enc + ciphertext, private_key, info=info)
    except InvalidTag:
        raise DecryptionError(
            "HPKE open failed: wrong election key, wrong info, or tampered ciphertext"
        ) from None


# --- terminal / station keys (Ed25519) -------------------------------------


def generate_signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ed25519_public_bytes(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return _raw_public_bytes(public_key)


def verify_key_from_bytes(raw: bytes) -> ed25519.Ed25519PublicKey:
    return _public_key_from_raw(ed25519.Ed25519PublicKey, raw, ED25519_PUBLIC_KEY_LEN, "Ed25519")


def _raw_public_bytes(public_key: x25519.X25519PublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


_K = TypeVar("_K")


def _public_key_from_raw(kind: type[_K], raw: bytes, length: int, what: str) -> _K:
    """A public key of `kind` from exactly `length` raw bytes; else KeyFormatError."""
    if len(raw) != length:
        raise KeyFormatError(f"{what} public key must be {length} raw bytes, got {len(raw)}")
    return kind.from_public_bytes(raw)  # type: ignore[attr-defined]


def key_id(public_key: ed25519.Ed25519PublicKey | bytes) -> bytes:
    """First 8 bytes of SHA-256 of the raw public key: how a record names its terminal."""
    raw = public_key if isinstance(public_key, bytes) else ed25519_public_bytes(public_key)
    if len(raw) != ED25519_PUBLIC_KEY_LEN:
        raise KeyFormatError(
            f"key id needs a {ED25519_PUBLIC_KEY_LEN}-byte Ed25519 public key, got {len(raw)}"
        )
    return hashlib.sha256(raw).digest()[:KEY_ID_LEN]


def sign(private_key: ed25519.Ed25519PrivateKey, message: bytes) -> bytes:
    return private_key.sign(message)


def verify_signature(
    public_key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes
) -> None:
    """Raise SignatureError unless `signature` is a valid Ed25519 signature of `message`."""
    if len(signature) != SIGNATURE_LEN:
        raise SignatureError(f"Ed25519 signature must be {SIGNATURE_LEN} bytes, got {len(signature)}")
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"Ed25519 signature does not verify under key id {key_id(public_key).hex()}"
        ) from None


def verify_enclosed(
    named_id: bytes,
    public_key: bytes,
    signature: bytes,
    message: bytes,
    enrolled: Callable[[], None] | None = None,
) -> None:
    """Verify a signature made under the raw public key it travels with, in this
    order: `named_id` is that key's id (`KeyIdMismatch`, "key id … does not name the
    enclosed public key"); then `enrolled()`, the caller's check that the key is one it
    trusts, whose own errors pass through; then the signature over `message`
    (`SignatureError`, or `KeyFormatError` for key bytes that are not Ed25519). A key of
    the wrong length fails the first step with `KeyFormatError`. Callers catch
    `KeyIdMismatch` before the others to word the two refusals apart."""
    if key_id(public_key) != named_id:
        raise KeyIdMismatch(f"key id {named_id.hex()} does not name the enclosed public key")
    if enrolled is not None:
        enrolled()
    verify_signature(verify_key_from_bytes(public_key), signature, message)


# --- key files ---------------------------------------------------------------


def _read(path: Path, secret: str | None = None) -> bytes:
    """The key file's bytes; `secret` names a private key, whose file must be private."""
    try:
        if secret is not None:
            return secretfile.read_secret_file(path, secret, MAX_KEY_FILE_BYTES, not_this_kind=_public_not_private(path))
        return jsonfile.read_bounded(path, MAX_KEY_FILE_BYTES, "a key file")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key file ({e.strerror})") from None
    except (secretfile.SecretFileError, jsonfile.InputError) as e:
        raise KeyFileError(str(e)) from None


def _public_not_private(path: Path):  # noqa: ANN202 - a secretfile `not_this_kind` check
    def check(data: bytes) -> str | None:
        if b"PUBLIC KEY-----" in data:
            return f"{path}: holds a public key; the private key file is needed here"
        return None

    return check


def _write_new(path: Path, data: bytes, secret: str | None = None) -> None:
    """Create `path`, refusing to overwrite: a replaced key is a lost key. A
    `secret` (private key) goes through `secretfile` (0600); public keys are 0644."""
    try:
        if secret is not None:
            secretfile.write_secret_file(path, data, secret)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except (FileExistsError, secretfile.SecretFileError):
        raise KeyFileError(f"{path}: already exists, refusing to overwrite a key file") from None
    except OSError as e:
        raise KeyFileError(f"{path}: cannot create key file ({e.strerror})") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _load_key(path: Path, kind: type[_K], what: str, side: str) -> _K:
    """A key of `kind` from a PEM file or 32 raw bytes; `side` is "private" or "public"
    (a private key file is read as a secret: its bytes never reach an error text)."""
    data = _read(path, secret=f"{what} private key") if side == "private" else _read(path)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            if side == "private":
                key = serialization.load_pem_private_key(data, password=None)
            else:
                key = serialization.load_pem_public_key(data)
        except TypeError:  # only the private loader: a password-protected PEM
            raise KeyFileError(f"{path}: {what} private key is encrypted; expected an unencrypted PEM") from None
        except (ValueError, UnsupportedAlgorithm) as e:
            raise KeyFileError(f"{path}: not a readable PEM {side} key ({e})") from None
    elif len(data) == 32:
        raw = kind.from_private_bytes if side == "private" else kind.from_public_bytes  # type: ignore[attr-defined]
        key = raw(data)
    else:
        raise KeyFileError(
            f"{path}: expected a PEM {what} {side} key or 32 raw bytes, got {len(data)} bytes"
        )
    if not isinstance(key, kind):
        raise KeyFileError(f"{path}: holds a {type(key).__name__}, expected an {what} {side} key")
    return key


def _pem_private(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def save_signing_key(path: str | os.PathLike[str], private_key: ed25519.Ed25519PrivateKey) -> None:
    """Write an Ed25519 private key as unencrypted PKCS#8 PEM, mode 0600, never overwriting."""
    _write_new(Path(path), _pem_private(private_key), secret="Ed25519 private key")


def save_verify_key(path: str | os.PathLike[str], public_key: ed25519.Ed25519PublicKey) -> None:
    _write_new(Path(path), _pem_public(public_key))


def load_signing_key(path: str | os.PathLike[str]) -> ed25519.Ed25519PrivateKey:
    return _load_key(Path(path), ed25519.Ed25519PrivateKey, "Ed25519", "private")


def load_verify_key(path: str | os.PathLike[str]) -> ed25519.Ed25519PublicKey:
    return _load_key(Path(path), ed25519.Ed25519PublicKey, "Ed25519", "public")


def save_election_public_key(
    path: str | os.PathLike[str], public_key: x25519.X25519PublicKey | bytes
) -> None:
    _write_new(Path(path), _pem_public(_as_x25519_public(public_key)))


def load_election_public_key(path: str | os.PathLike[str]) -> x25519.X25519PublicKey:
    return _load_key(Path(path), x25519.X25519PublicKey, "X25519 election", "public")
