"""The card link: which token the card a voter holds carries, readable by the station only.

Why it exists (DESIGN.md §2 step 2): a replacement must revoke the old card's
token, also when the card is not handed back (lost, or an ISSUE cut short by a
crash), and must be refused when that card's ballot is already in the box. Both
need to know, for one voter, which token their card carries. The token row
itself names no voter (it is the row the cast transaction touches, next to the
ballot), so the voter row keeps that token's hash, encrypted:

    card_link = nonce (12) || AES-256-GCM(key, nonce, token hash, aad = label || IIN)

with `key` = HKDF-SHA256 of the station's card master key (its own label, so
the card keys diversified from that master key are unaffected). A reader of the
database without that key cannot join a voter to a token, let alone to the
transaction that cast it; the IIN as associated data stops a link being copied
to another voter's row. The link exists only while the voter holds a card: a
replacement clears it, and sealing the storage at close clears every link, so a
closed station's database says nothing about which token any voter held, even
to whoever holds the key.

Who can join voter and token while the polls are open: the station process and
whoever has both the database and the card master key (the same people can
already watch the cards being issued). Nothing here is ballot-derived.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sailau.election.record import TOKEN_HASH_LEN

NONCE_LEN = 12
TAG_LEN = 16
CARD_LINK_LEN = NONCE_LEN + TOKEN_HASH_LEN + TAG_LEN
_KEY_INFO = b"sailau/ballot-box/card-link-key/v1"
_AAD_LABEL = b"sailau/ballot-box/card-link/v1:"


class CardLinkError(ValueError):
    """A card link does not open with this key (another card master key, another voter, altered)."""


@dataclass(frozen=True)
class CardLinkKey:
    """Encrypts and opens voters' card links. Build it with `from_master_key`."""

    key: bytes = field(repr=False)

    @classmethod
    def from_master_key(cls, card_master_key: bytes) -> CardLinkKey:
        if not isinstance(card_master_key, bytes | bytearray) or len(card_master_key) < 16:
            raise ValueError("the card link key needs the station's card master key (16 bytes or more)")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(bytes(card_master_key))
        return cls(derived)

    def encrypt(self, iin: str, token_hash: bytes) -> bytes:
        """The link stored on `iin`'s voter row for a card carrying `token_hash`."""
        if len(token_hash) != TOKEN_HASH_LEN:
            raise ValueError(f"token hash must be {TOKEN_HASH_LEN} bytes, got {len(token_hash)}")
        nonce = secrets.token_bytes(NONCE_LEN)
        return nonce + AESGCM(self.key).encrypt(nonce, bytes(token_hash), _aad(iin))

    def decrypt(self, iin: str, link: bytes) -> bytes:
        """The token hash `link` names, or CardLinkError."""
        if len(link) != CARD_LINK_LEN:
            raise CardLinkError(f"a card link is {CARD_LINK_LEN} bytes, this one {len(link)}")
        try:
            return AESGCM(self.key).decrypt(link[:NONCE_LEN], link[NONCE_LEN:], _aad(iin))
        except InvalidTag:
            raise CardLinkError("the card link does not open with this station's card master key") from None


def _aad(iin: str) -> bytes:
    return _AAD_LABEL + iin.encode("ascii")
