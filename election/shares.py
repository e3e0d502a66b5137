"""The election key ceremony: split the X25519 election key k-of-n, bring it back at close.

Splitting is SLIP-39 (`shamir-mnemonic`, Trezor's reference implementation), not
hand-written Shamir: the 32 secret bytes are the master secret, one group with
member threshold k. Each commission member gets a share file and can copy the
33-word mnemonic onto paper; the mnemonic's RS1024 checksum catches typos when a
member types it at the station, and the library's digest catches shares that do
not belong together. The reconstructed key is accepted only if its public key is
the election public key everyone already holds.

Share file (JSON, one per member):
`{"format": "sailau-election-key-share/v1", "election_id", "election_public_key"
(hex, 32 bytes), "index" (1..n), "k", "n", "mnemonic"}`. It is a secret file
(`secretfile.py`): written 0600, read only while private, at most
`MAX_SHARE_BYTES`, and parsed by the one bounded JSON reader (`jsonfile.py`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import shamir_mnemonic as slip39
from cryptography.hazmat.primitives.asymmetric import x25519

from . import crypto, filekind, jsonfile, secretfile

SHARE_FORMAT = "sailau-election-key-share/v1"
MAX_SHARES = 16  # SLIP-39 encodes member index and threshold in 4 bits each
_ITERATION_EXPONENT = 1  # SLIP-39 default; no passphrase is used, so this is not a defence
#: A share file is about 400 bytes (33 words); nothing else belongs in one.
MAX_SHARE_BYTES = 64 * 1024


class ShareError(Exception):
    """Base of every refusal in the key ceremony."""


class ShareParameterError(ShareError, ValueError):
    """k and n do not describe a usable split."""


class ShareFileError(ShareError):
    """A share file is missing, unreadable, or not a share of this format."""


class ShareFileExposedError(ShareFileError):
    """A share file group or others may read: refused until `chmod 600`."""


class BadMnemonicError(ShareError):
    """A mnemonic is mistyped or corrupt (unknown word, wrong length, checksum)."""


class MismatchedShareError(ShareError):
    """Shares belong to another election, another key, or another split."""


class DuplicateShareError(ShareError):
    """The same member's share was given twice."""


class NotEnoughSharesError(ShareError):
    """Fewer than k distinct shares were given."""


class WrongElectionKeyError(ShareError):
    """The shares combine, but not to the private half of the expected public key."""


@dataclass(frozen=True)
class Share:
    """One commission member's share of the election key."""

    election_id: str
    election_public_key: bytes
    index: int  # 1..n, as printed for people; SLIP-39's member index is index - 1
    k: int
    n: int
    mnemonic: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": SHARE_FORMAT,
                "election_id": self.election_id,
                "election_public_key": self.election_public_key.hex(),
                "index": self.index,
                "k": self.k,
                "n": self.n,
                "mnemonic": self.mnemonic,
            },
            indent=2,
            ensure_ascii=False,
        ) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "share") -> Share:
        try:
            obj = jsonfile.parse_json(text, source, max_bytes=MAX_SHARE_BYTES, what="a key share file")
        except jsonfile.InputError as e:
            raise ShareFileError(str(e)) from None
        if not isinstance(obj, dict):
            raise ShareFileError(f"{source}: expected a JSON object")
        other = filekind.wrong_kind(obj, filekind.KEY_SHARE, source)
        if other is not None:
            raise ShareFileError(other)
        if obj.get("format") != SHARE_FORMAT:
            raise ShareFileError(
                f"{source}: format is {obj.get('format')!r}, expected {SHARE_FORMAT!r}"
            )
        fields = {
            "election_id": str,
            "election_public_key": str,
            "index": int,
            "k": int,
            "n": int,
            "mnemonic": str,
        }
        for name, kind in fields.items():
            value = obj.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ShareFileError(f"{source}: field {name!r} missing or not a {kind.__name__}")
        try:
            public_key = bytes.fromhex(obj["election_public_key"])
        except ValueError:
            raise ShareFileError(f"{source}: election_public_key is not hex") from None
        if len(public_key) != crypto.X25519_KEY_LEN:
            raise ShareFileError(
                f"{source}: election_public_key is {len(public_key)} bytes, "
                f"expected {crypto.X25519_KEY_LEN}"
            )
        share = cls(
            election_id=obj["election_id"],
            election_public_key=public_key,
            index=obj["index"],
            k=obj["k"],
            n=obj["n"],
            mnemonic=obj["mnemonic"],
        )
        parsed = parse_mnemonic(share.mnemonic, source)
        if (parsed.index + 1, parsed.member_threshold) != (share.index, share.k):
            raise ShareFileError(
                f"{source}: the file says share {share.index} of a {share.k}-of-{share.n} split, "
                f"the mnemonic says share {parsed.index + 1} with threshold {parsed.member_threshold}"
            )
        if not 1 <= share.index <= share.n:
            raise ShareFileError(f"{source}: index {share.index} is outside 1..{share.n}")
        return share


def _check_parameters(k: int, n: int) -> None:
    if not 1 <= n <= MAX_SHARES:
        raise ShareParameterError(f"n = {n}: SLIP-39 allows 1 to {MAX_SHARES} shares")
    if not 1 <= k <= n:
        raise ShareParameterError(f"k = {k}: the threshold must be between 1 and n = {n}")
    if k == 1 and n > 1:
        raise ShareParameterError(
            f"1-of-{n} would let any single member decrypt alone; use k >= 2 (or 1-of-1)"
        )


def split_election_key(
    private_key: x25519.X25519PrivateKey,
    k: int,
    n: int,
    election_id: str,
    public_key: bytes | x25519.X25519PublicKey,
) -> list[Share]:
    """Split the election private key into n shares, any k of which rebuild it."""
    _check_parameters(k, n)
    pair = crypto.ElectionKeyPair(private_key)
    public_bytes = public_key if isinstance(public_key, bytes) else crypto.x25519_public_bytes(public_key)
    if public_bytes != pair.public_key_bytes:
        raise WrongElectionKeyError("the public key given is not the public half of this private key")
    if not election_id:
        raise ShareParameterError("election id must not be empty")
    (group,) = slip39.generate_mnemonics(
        group_threshold=1,
        groups=[(k, n)],
        master_secret=pair.private_key_bytes,
        iteration_exponent=_ITERATION_EXPONENT,
    )
    return [
        Share(
            election_id=election_id,
            election_public_key=public_bytes,
            index=parse_mnemonic(mnemonic).index + 1,
            k=k,
            n=n,
            mnemonic=mnemonic,
        )
        for mnemonic in group
    ]


def parse_mnemonic(text: str, source: str = "share") -> slip39.Share:
    """Check a typed mnemonic at once (words, length, checksum) so a typo is caught early."""
    try:
        share = slip39.Share.from_mnemonic(" ".join(text.split()))
    except slip39.MnemonicError as e:
        raise BadMnemonicError(
            f"{source}: {e} Check each word against the paper share."
        ) from None
    if share.group_count != 1 or share.group_threshold != 1:
        raise BadMnemonicError(
            f"{source}: a multi-group SLIP-39 share, not a Sailau election key share"
        )
    return share


def write_share_file(path: str | os.PathLike[str], share: Share) -> None:
    """Write one share file, mode 0600, refusing to overwrite an existing file."""
    path = Path(path)
    try:
        secretfile.write_secret_file(path, share.to_json().encode("utf-8"), "key share")
    except secretfile.SecretFileError:
        raise ShareFileError(f"{path}: already exists, refusing to overwrite a share") from None
    except OSError as e:
        raise ShareFileError(f"{path}: cannot create share file ({e.strerror})") from None


def read_share_file(path: str | os.PathLike[str]) -> Share:
    """Read and check one share file; refused (`ShareFileError`) when missing,
    unreadable, readable by group or others (with the chmod fix), too large or
    not a share."""
    path = Path(path)
    try:
        raw = secretfile.read_secret_file(
            path, "key share", MAX_SHARE_BYTES,
            not_this_kind=lambda data: filekind.wrong_kind_of_bytes(data, filekind.KEY_SHARE, str(path)),
        )
    except FileNotFoundError:
        raise ShareFileError(f"{path}: share file not found") from None
    except OSError as e:
        raise ShareFileError(f"{path}: cannot read share file ({e.strerror})") from None
    except secretfile.SecretFileExposedError as e:
        raise ShareFileExposedError(str(e)) from None
    except secretfile.SecretFileError as e:
        raise ShareFileError(str(e)) from None
    return Share.from_json(raw, source=str(path))


def reconstruct_election_key(
    shares: Iterable[Share | str],
    expected_public_key: bytes | x25519.X25519PublicKey,
    election_id: str | None = None,
) -> x25519.X25519PrivateKey:
    """Rebuild the election private key from k shares (files or typed mnemonics).

    Refuses, naming the share: a bad mnemonic, a share of another election or key,
    a duplicate, fewer than k shares, or a result whose public key is not
    `expected_public_key`. With more than k good shares the first k are used.
    """
    expected = (
        expected_public_key
        if isinstance(expected_public_key, bytes)
        else crypto.x25519_public_bytes(expected_public_key)
    )
    parsed: list[tuple[str, slip39.Share, str]] = []  # (label, parsed share, mnemonic)
    for position, item in enumerate(shares, start=1):
        if isinstance(item, Share):
            label = f"share {item.index} ({item.election_id})"
            if item.election_public_key != expected:
                raise MismatchedShareError(
                    f"{label} is for election public key {item.election_public_key.hex()[:16]}..., "
                    f"not {expected.hex()[:16]}...: a share of another election key"
                )
            if election_id is not None and item.election_id != election_id:
                raise MismatchedShareError(
                    f"{label} is for election {item.election_id!r}, not {election_id!r}"
                )
            mnemonic = item.mnemonic
        else:
            label = f"share #{position} (typed)"
            mnemonic = item
        parsed.append((label, parse_mnemonic(mnemonic, label), mnemonic))
    if not parsed:
        raise NotEnoughSharesError("no shares given")

    first_label, first, _ = parsed[0]
    seen: dict[int, str] = {}
    for label, share, _ in parsed:
        if share.common_parameters() != first.common_parameters() or (
            share.member_threshold != first.member_threshold
        ):
            raise MismatchedShareError(
                f"{label} comes from a different key split than {first_label} "
                "(another election, or another ceremony)"
            )
        if share.index in seen:
            raise DuplicateShareError(f"{label} is the same member's share as {seen[share.index]}")
        seen[share.index] = label

    k = first.member_threshold
    if len(parsed) < k:
        raise NotEnoughSharesError(f"{len(parsed)} distinct share(s) given, {k} needed")
    try:
        secret = slip39.combine_mnemonics([m for _, _, m in parsed[:k]])
    except slip39.MnemonicError as e:
        raise MismatchedShareError(f"the shares do not combine: {e}") from None
    private_key = crypto.election_private_key_from_bytes(secret)
    if crypto.x25519_public_bytes(private_key.public_key()) != expected:
        raise WrongElectionKeyError(
            "the shares combine to a key whose public half is not the election public key "
            f"{expected.hex()[:16]}...: shares of another election"
        )
    return private_key


def reconstruct_from_files(
    paths: Sequence[str | os.PathLike[str]],
    expected_public_key: bytes | x25519.X25519PublicKey,
    election_id: str | None = None,
) -> x25519.X25519PrivateKey:
    return reconstruct_election_key(
        [read_share_file(p) for p in paths], expected_public_key, election_id
    )
