"""Members' co-signatures received over the network, and protocols pending them.

`commission import` reads a protocol and its co-signatures together, so it can
refuse one without a majority (importer.py): importing again later takes it. A
server receives files one at a time, in any order, from the station and from
members signing on other machines, so it keeps both sides and applies the
majority rule (`election.cosign.check_cosignatures`, the import's rule) whenever
either arrives:

- a co-signature is checked on arrival by the per-file rule
  (`cosign.check_signer`: a member key of the precinct it names, its signature,
  this election, the enrolled role) and kept (`models.cosignatures`), whether or
  not its protocol is here yet; a member's second, different co-signature of the
  same protocol file is refused (`cosign:duplicate_member`), the same bytes again
  are `unchanged`;
- a protocol that passes every check of `checks.check_protocol_file` but the
  majority is checked against the co-signatures kept for its bytes: with a
  majority it is stored as a version like any other (conflicts.py decides); without
  one it is **held** (`models.pending_protocols`, "pending co-signatures"): not a
  version, so it neither counts nor puts its precinct in conflict;
- each co-signature that arrives releases the protocol it names when the kept
  co-signatures now make a majority.

Crash ordering and concurrency (several server processes share one database):
each side is written and committed *before* the other side is read (a held
protocol's row, then the co-signatures; a co-signature's row, then the held
protocols), so of two arrivals racing in two processes at least one sees the
other and releases the protocol. Releasing stores the version first and deletes
the held row after, so a crash between leaves a held row whose bytes are already a
version: `release_ready` (run at server start) and any later arrival clear it.

Bounds: a co-signature body is at most `cosign.MAX_COSIGNATURE_BYTES`; a member
may co-sign at most `MAX_FILES_PER_MEMBER` protocol files (a precinct with more
versions than that is a matter for the commission, not for storage).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from sailau.election.cosign import (
    CosignCheck,
    CosignError,
    CosignProblem,
    Cosignature,
    check_cosignatures,
    check_signer,
    parse_cosignature,
)
from sailau.election.definition import Election
from sailau.election.members import Member, MemberIndex
from sailau.election.protocol import SignedProtocol

from . import models
from .checks import CheckedProtocol, Reason, Refusal, check_protocol_file
from .db import CommissionDB
from .registry import StationRegistry

#: A member co-signs at most this many protocol files of their precinct (each recount is one).
MAX_FILES_PER_MEMBER = 16


@dataclass(frozen=True)
class CheckedCosignature:
    """A co-signature that passed the per-file rule on arrival."""

    source: str
    cosignature: Cosignature
    member: Member
    raw: bytes  # canonical bytes (a trailing newline as written to disk is not part of them)
    digest: str  # SHA-256 of `raw`

    @property
    def precinct(self) -> int:
        return self.cosignature.precinct


@dataclass(frozen=True)
class AwaitingMajority:
    """A protocol that passed every check but the majority rule, which depends on
    the co-signatures kept (decided in the writer, see `settle`)."""

    checked: CheckedProtocol


def _refusal(source: str, precinct: int | None, problem: CosignProblem, message: str) -> Refusal:
    return Refusal(source, precinct, Reason.COSIGN, f"cosign:{problem.value}: {message}")


def check_cosignature_file(raw: bytes, source: str, election: Election, registry: StationRegistry) -> CheckedCosignature | Refusal:
    """A co-signature's bytes: read within bounds, then the per-file rule of
    `cosign.check_signer` for the precinct it names. Refused as `cosign`, the problem
    named `cosign:<name>` in the message, as `commission import` names it."""
    try:
        c = parse_cosignature(raw, source)
    except CosignError as e:
        return _refusal(source, None, e.problem, str(e))
    member, problem = check_signer(c, registry.member_index, c.precinct, election_id=election.id)
    if problem is not None:
        return _refusal(source, c.precinct, *problem)
    canonical = c.to_bytes()
    return CheckedCosignature(source, c, member, canonical, hashlib.sha256(canonical).hexdigest())


def check_protocol_awaiting(raw: bytes, source: str, election: Election,
                            registry: StationRegistry) -> CheckedProtocol | AwaitingMajority | Refusal:
    """`checks.check_protocol_file` with no co-signatures: a file it refuses only for
    want of a majority (`cosign:no_majority`, a precinct with enrolled members) is
    `AwaitingMajority`; the writer settles it against the co-signatures kept."""
    checked = check_protocol_file(raw, source, election, registry)
    if not isinstance(checked, Refusal) or checked.reason is not Reason.COSIGN:
        return checked
    signed = SignedProtocol.from_canonical_json(raw)  # it parsed and verified already
    check = check_cosignatures(signed, (), registry.member_index)
    if any(f.problem is not CosignProblem.NO_MAJORITY for f in check.findings):
        return checked
    return AwaitingMajority(CheckedProtocol(source, signed, raw, hashlib.sha256(raw).hexdigest()))


# --- the writer's side (worker thread) ------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """What happened to one co-signature in `keep`: stored, or already there, or refused."""

    new: bool
    refusal: Refusal | None = None


def keep(db: CommissionDB, items: Sequence[CheckedCosignature]) -> list[Kept]:
    """Store the co-signatures (one transaction); one `Kept` per item, in order."""
    out: dict[int, Kept] = {}
    for attempt in (1, 2):  # a concurrent writer of the same member's file: decided again against what it committed
        try:
            with db.begin() as conn:
                out = _keep(conn, items)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    return [out[i] for i in range(len(items))]


def _keep(conn: Connection, items: Sequence[CheckedCosignature]) -> dict[int, Kept]:
    C = models.cosignatures
    out: dict[int, Kept] = {}
    keys = sorted({c.member.key_id.hex() for c in items})
    rows = conn.execute(select(C.c.digest, C.c.protocol_sha256, C.c.member_key_id).where(C.c.member_key_id.in_(keys))).all()
    known = {d for d, _, _ in rows}
    by_member_file = {(k, p): d for d, p, k in rows}
    per_member: dict[str, set[str]] = {}
    for _, p, k in rows:
        per_member.setdefault(k, set()).add(p)
    new_rows = []
    for i, c in enumerate(items):
        kid, target = c.member.key_id.hex(), c.cosignature.protocol_sha256
        if c.digest in known:
            out[i] = Kept(False)
        elif (kid, target) in by_member_file:
            out[i] = Kept(False, _refusal(c.source, c.precinct, CosignProblem.DUPLICATE_MEMBER,
                                          f"{c.member.name} ({kid}) already co-signed protocol file {target[:16]}... "
                                          "with another co-signature; a member co-signs a file once"))
        elif len(per_member.get(kid, ())) >= MAX_FILES_PER_MEMBER:
            out[i] = Kept(False, _refusal(c.source, c.precinct, CosignProblem.TOO_MANY,
                                          f"{c.member.name} ({kid}) co-signed {MAX_FILES_PER_MEMBER} protocol files "
                                          "already, more than any precinct has versions"))
        else:
            known.add(c.digest)
            by_member_file[(kid, target)] = c.digest
            per_member.setdefault(kid, set()).add(target)
            new_rows.append({"digest": c.digest, "protocol_sha256": target, "precinct": c.precinct,
                             "member_key_id": kid, "signed": c.raw})
            out[i] = Kept(True)
    if new_rows:
        conn.execute(insert(C), new_rows)
    return out


def kept_for(conn: Connection, digests: Iterable[str]) -> dict[str, list[tuple[str, Cosignature]]]:
    """The co-signatures kept for each protocol file digest (source "cosignature <digest16>")."""
    C = models.cosignatures
    out: dict[str, list[tuple[str, Cosignature]]] = {}
    wanted = sorted(set(digests))
    if not wanted:
        return out
    for target, digest, signed in conn.execute(select(C.c.protocol_sha256, C.c.digest, C.c.signed)
                                               .where(C.c.protocol_sha256.in_(wanted)).order_by(C.c.digest)):
        out.setdefault(target, []).append((f"co-signature {digest[:16]}", parse_cosignature(bytes(signed))))
    return out


def majority(checked: CheckedProtocol, kept: Sequence[tuple[str, Cosignature]], index: MemberIndex) -> CosignCheck:
    return check_cosignatures(checked.signed, kept, index)


@dataclass(frozen=True)
class Settled:
    """The protocols `settle` looked at: those that now have their majority (to be
    stored as versions), those held, with their check, and those already versions."""

    ready: list[CheckedProtocol]
    held: list[tuple[CheckedProtocol, CosignCheck]]


def settle(db: CommissionDB, candidates: Sequence[CheckedProtocol], index: MemberIndex) -> Settled:
    """Decide each candidate (a protocol awaiting its majority, or a held one whose
    co-signatures changed) against the co-signatures kept: ready, or held (its row
    written and committed, then the co-signatures read again: see the module doc)."""
    V, H = models.protocol_versions, models.pending_protocols
    unique = list({c.digest: c for c in candidates}.values())
    if not unique:
        return Settled([], [])
    with db.begin() as conn:
        versions = {d for (d,) in conn.execute(select(V.c.digest).where(V.c.digest.in_([c.digest for c in unique])))}
        kept = kept_for(conn, [c.digest for c in unique])
    ready: list[CheckedProtocol] = []
    waiting: list[CheckedProtocol] = []
    for c in unique:
        if c.digest in versions or majority(c, kept.get(c.digest, ()), index).ok:
            ready.append(c)
        else:
            waiting.append(c)
    held: list[tuple[CheckedProtocol, CosignCheck]] = []
    if waiting:
        try:
            with db.begin() as conn:
                there = {d for (d,) in conn.execute(select(H.c.digest).where(H.c.digest.in_([c.digest for c in waiting])))}
                rows = [{"digest": c.digest, "precinct": c.protocol.precinct, "signed": c.raw}
                        for c in waiting if c.digest not in there]
                if rows:
                    conn.execute(insert(H), rows)
        except IntegrityError:  # another process held some of them meanwhile: hold the rest one by one
            for c in waiting:
                try:
                    with db.begin() as conn:
                        conn.execute(insert(H), [{"digest": c.digest, "precinct": c.protocol.precinct, "signed": c.raw}])
                except IntegrityError:
                    pass
        with db.begin() as conn:  # read again after the held rows committed
            kept = kept_for(conn, [c.digest for c in waiting])
        for c in waiting:
            check = majority(c, kept.get(c.digest, ()), index)
            if check.ok:
                ready.append(c)
            else:
                held.append((c, check))
    return Settled(ready, held)


def held_for(db: CommissionDB, digests: Iterable[str]) -> list[CheckedProtocol]:
    """The held protocols among `digests` (the protocol files some co-signatures name)."""
    H = models.pending_protocols
    wanted = sorted(set(digests))
    if not wanted:
        return []
    with db.begin() as conn:
        rows = conn.execute(select(H.c.digest, H.c.signed).where(H.c.digest.in_(wanted))).all()
    return [CheckedProtocol(f"held protocol {d[:16]}", SignedProtocol.from_canonical_json(bytes(s)), bytes(s), d) for d, s in rows]


def all_held(db: CommissionDB) -> list[CheckedProtocol]:
    with db.begin() as conn:
        digests = [d for (d,) in conn.execute(select(models.pending_protocols.c.digest))]
    return held_for(db, digests)


def release(db: CommissionDB, digests: Iterable[str]) -> None:
    """Forget the held rows of protocols now stored as versions (after the versions committed)."""
    V, H = models.protocol_versions, models.pending_protocols
    wanted = sorted(set(digests))
    if not wanted:
        return
    with db.begin() as conn:
        stored = [d for (d,) in conn.execute(select(V.c.digest).where(V.c.digest.in_(wanted)))]
        if stored:
            conn.execute(delete(H).where(H.c.digest.in_(stored)))


@dataclass(frozen=True)
class ProtocolState:
    """Where a protocol file (by digest) stands at this commission, in words for an answer."""

    state: str  # "counted" | "stored" (a version that does not count: conflict) | "pending" | "absent"
    precinct: int | None
    signed: int = 0  # members whose co-signatures are kept for it
    enrolled: int = 0

    def words(self) -> str:
        need = self.enrolled // 2 + 1
        return {
            "counted": f"its protocol counts ({self.signed} of {self.enrolled} members co-signed)",
            "stored": "its protocol is stored but does not count (another version of the precinct: a conflict)",
            "pending": f"its protocol is pending co-signatures: {self.signed} of {self.enrolled} members co-signed, "
                       f"a majority is {need}",
            "absent": "its protocol has not arrived yet; the co-signature waits for it",
        }[self.state]


def states(db: CommissionDB, digests: Iterable[str], index: MemberIndex) -> dict[str, ProtocolState]:
    """`ProtocolState` of each protocol file digest."""
    V, P, H, C = models.protocol_versions, models.protocols, models.pending_protocols, models.cosignatures
    wanted = sorted(set(digests))
    out: dict[str, ProtocolState] = {}
    if not wanted:
        return out
    with db.begin() as conn:
        versions = dict(conn.execute(select(V.c.digest, V.c.precinct).where(V.c.digest.in_(wanted))).all())
        counted = {d for (d,) in conn.execute(select(P.c.digest).where(P.c.digest.in_(wanted)))}
        held = dict(conn.execute(select(H.c.digest, H.c.precinct).where(H.c.digest.in_(wanted))).all())
        signers = dict(conn.execute(select(C.c.protocol_sha256, func.count()).where(C.c.protocol_sha256.in_(wanted))
                                    .group_by(C.c.protocol_sha256)).all())
    for d in wanted:
        n = versions.get(d, held.get(d))
        state = "counted" if d in counted else "stored" if d in versions else "pending" if d in held else "absent"
        out[d] = ProtocolState(state, None if n is None else int(n), int(signers.get(d, 0)),
                               len(index.of(int(n))) if n is not None else 0)
    return out


def held_in_precinct(db: CommissionDB, n: int) -> list[str]:
    """Digests of the protocols of precinct `n` held for co-signatures (for the precinct's status)."""
    H = models.pending_protocols
    with db.begin() as conn:
        return sorted(d for (d,) in conn.execute(select(H.c.digest).where(H.c.precinct == n)))
