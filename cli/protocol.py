"""`sailau protocol verify FILE [--election FILE] [--station-key FILE] [--audit LOG.jsonl]
[--receipts LIST]`: check a signed precinct protocol. Exit 0 when the signature
verifies and every control relation holds (and, with --audit, the exported audit
log reaches the head the protocol anchors; with --receipts, the receipt list hashes
to the commitment the protocol signs); otherwise exit 1 naming each problem (one
per line). A relation the station declared broken (`discrepancies`) is named as a
declared discrepancy (the commission refuses such a protocol as `discrepancy`);
one it broke without declaring it, or declared falsely, as the relation itself.

With --registry (and --election), the commission members' co-signatures
(`*.cosig` beside the protocol named `<stem>.<key id>.cosig`, and each --cosig)
are checked against the members the registry enrols for the precinct and the
majority rule (election/cosign.py); each problem is named `cosign:<name>`, and
each dissenting opinion of a counted co-signature is printed in full.

`sailau protocol cosign` makes a member's co-signature; `sailau protocol
wallcopy` prints the A4 wall copy (ballot_box/wallcopy.py); `sailau protocol
show` prints the three protocols (electronic, paper, combined) as text. A
protocol file may end in one newline, as a QR scanner gives it."""

from __future__ import annotations

from pathlib import Path

import click

from sailau.ballot_box import audit
from sailau.election import crypto, filekind
from sailau.election.protocol import (
    ProtocolError,
    ProtocolFormatError,
    undeclarable,
    SignedProtocol,
    read_protocol_file,
    undeclared_violations,
    without_scanner_newline,
    validate_protocol,
    verify_signed_protocol,
)
from sailau.election.receipts import ReceiptListError, read_receipt_list

from .options import read_election


@click.group()
def protocol() -> None:
    """Signed precinct results protocols."""


@protocol.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--election", "election_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the election definition: also check election, precinct, contests and options")
@click.option("--station-key", "station_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the station's enrolled public key: also check who signed")
@click.option("--audit", "audit_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the station's exported audit log (sailau audit export): it must reach the protocol's audit head")
@click.option("--receipts", "receipts_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the precinct's published receipt list (receipts.json): it must be the list the protocol commits to")
@click.option("--registry", "registry_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the signed key registry (stations.json; needs --election): check the station key and the members' "
                   "co-signatures against it, and that a majority of the precinct's members co-signed")
@click.option("--cosig", "cosig_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a member's co-signature file (sailau protocol cosign), besides those found next to PATH; repeatable")
def verify(path: Path, election_path: Path | None, station_key_path: Path | None, audit_path: Path | None,
           receipts_path: Path | None, registry_path: Path | None, cosig_paths: tuple[Path, ...]) -> None:
    """Check the signature and the control relations of the signed protocol in PATH."""
    problems: list[str] = []
    try:
        raw = without_scanner_newline(read_protocol_file(path))
    except ProtocolFormatError as exc:  # too large: refused unread
        raise click.ClickException(f"{path}: refused ({exc.reason}): {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None
    other = filekind.wrong_kind_of_bytes(raw, filekind.SIGNED_PROTOCOL, str(path))
    if other is not None:
        raise click.ClickException(other)
    try:
        signed = SignedProtocol.from_canonical_json(raw)
    except ProtocolFormatError as exc:  # the message names what is wrong with the signed protocol
        bound = "" if exc.reason == "format" else f"refused ({exc.reason}): "
        raise click.ClickException(f"{path}: {bound}{exc}") from None
    trusted = None
    if station_key_path is not None:
        try:
            public = crypto.ed25519_public_bytes(crypto.load_verify_key(station_key_path))
        except crypto.KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
        trusted = {crypto.key_id(public): public}
    try:
        verify_signed_protocol(signed, trusted)
    except ProtocolError as exc:
        problems.append(f"signature: {exc}")
    election = None
    if election_path is not None:
        election = read_election(election_path)
    p = signed.protocol
    notes: list[str] = []
    if registry_path is not None:
        if election is None:
            raise click.UsageError("--registry needs --election (the definition names the registry's root)")
        from sailau.commission.registry import RegistryError, load_registry
        from sailau.election.cosign import check_cosignatures

        try:
            registry = load_registry(registry_path, election).registry
        except RegistryError as exc:
            raise click.ClickException(f"refused ({exc.name}): {exc}") from None
        if trusted is None and not any(x.startswith("signature:") for x in problems):
            trusted = registry.trusted_keys()
            try:
                verify_signed_protocol(signed, trusted)
            except ProtocolError as exc:
                problems.append(f"signature: {exc}")
            enrolled = registry.by_key_id.get(signed.station_key_id)
            if enrolled is not None and enrolled.precinct != p.precinct:
                problems.append(f"signature: signed by the station key of precinct {enrolled.precinct}")
        cosigs, unreadable = _cosignatures(path, cosig_paths)
        problems.extend(unreadable)
        check = check_cosignatures(signed, cosigs, registry.members())
        problems.extend(str(f) for f in check.findings)
        if not check.applies:
            notes.append(f"no commission members enrolled for precinct {p.precinct}: co-signatures not required")
        else:
            notes.append(f"co-signed by {len(check.valid)} of {len(check.enrolled)} members" + (": " if check.valid else "")
                         + ", ".join(f"{m.role.value} {m.name} at {c.signed_at.isoformat()}" for m, c in check.valid))
        for m, c in check.dissents():
            notes.append(f"dissenting opinion of {m.role.value} {m.name} ({m.key_id.hex()}), signed with the co-signature:\n"
                         + "\n".join("    " + line for line in (c.dissent or "").splitlines()))
    elif cosig_paths or _found_cosignatures(path):
        notes.append("co-signatures not checked: pass --registry and --election")
    for violation in undeclared_violations(p, election):
        problems.append(f"{violation.name}: {violation.message}")
    declared = {name for name in p.discrepancies if not undeclarable(name)}
    for violation in validate_protocol(p, election):
        if violation.name in declared:  # honest, but the count does not add up: a commission refuses it
            problems.append(f"discrepancy (declared by the station): {violation.name}: {violation.message}")
    if audit_path is not None:
        if p.audit is None:
            problems.append("audit: the protocol carries no audit head to check the log against")
        else:
            try:
                report = audit.verify_anchor(audit.load_jsonl(audit_path), p.audit.seq, p.audit.hash)
            except audit.AuditFileError as exc:
                raise click.ClickException(str(exc)) from None
            if not report.ok:
                problems.append(f"audit: {audit_path}: {report.problem}")
    if receipts_path is not None:
        try:
            listed = read_receipt_list(receipts_path)
        except ReceiptListError as exc:
            raise click.ClickException(str(exc)) from None
        if (listed.election_id, listed.election_fingerprint, listed.precinct) != (p.election_id, p.election_fingerprint, p.precinct):
            problems.append(f"receipts: {receipts_path} is the list of precinct {listed.precinct} of election {listed.election_id!r}")
        elif p.receipts is not None:
            try:
                got = listed.commitment()
            except ReceiptListError as exc:
                problems.append(f"receipts: {receipts_path}: {exc}")
            else:
                if got != p.receipts:
                    problems.append(f"receipts: {receipts_path} holds {got.count} codes with root {got.root[:16]}..., the protocol "
                                    f"commits to {p.receipts.count} with root {p.receipts.root[:16]}...: the list was changed after signing")
    for note in notes:
        click.echo(note)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{path}: {len(problems)} problem(s); protocol of precinct {p.precinct} NOT verified")
    click.echo(f"{path}: OK, precinct {p.precinct}, election {p.election_id}, signed by station key "
               f"{signed.station_key_id.hex()}" + ("" if trusted else " (signer not checked: pass --station-key or --registry)")
               + ("" if audit_path is None or p.audit is None else
                  f"; audit log reaches event {p.audit.seq} ({p.audit.hash[:16]}...)")
               + ("" if receipts_path is None or p.receipts is None else
                  f"; receipt list matches its commitment ({p.receipts.count} codes)"))


def _found_cosignatures(path: Path) -> list[Path]:
    """The co-signature files written beside the protocol (`<stem>.<key id>.cosig`)."""
    from sailau.election.cosign import COSIGN_SUFFIX, MAX_COSIGNATURES

    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    return sorted(path.parent.glob(f"{stem}.*{COSIGN_SUFFIX}"))[: MAX_COSIGNATURES + 1]


def _cosignatures(path: Path, given: tuple[Path, ...]) -> tuple[list, list[str]]:
    """(source, Cosignature) of each co-signature file found or given, and a problem
    line (cosign:format) for each that cannot be read."""
    from sailau.election.cosign import CosignError, read_cosignature_file

    files = list({f.resolve(): f for f in [*_found_cosignatures(path), *given]}.values())  # a file found and given counts once
    out, problems = [], []
    for f in files:
        try:
            out.append((str(f), read_cosignature_file(f)))
        except CosignError as exc:
            problems.append(f"cosign:{exc.problem.value}: {exc}")
    return out, problems


def _load_signed(path: Path) -> tuple[SignedProtocol, bytes]:
    try:
        raw = without_scanner_newline(read_protocol_file(path))
        return SignedProtocol.from_canonical_json(raw), raw
    except ProtocolFormatError as exc:
        raise click.ClickException(f"{path}: refused ({exc.reason}): {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None


@protocol.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key-file", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The member's private key (member.key from sailau keys member; mode 0600).")
@click.option("--role", type=click.Choice(["chair", "deputy_chair", "secretary", "member"]),
              help="The member's role; taken from member.json beside the key when not given.")
@click.option("--dissent-file", "dissent_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A UTF-8 text file with the member's dissenting opinion, signed with the co-signature.")
@click.option("--time-zone", "time_zone", default="Asia/Almaty", show_default=True,
              help="The precinct's time zone (IANA name): the local time of signing is recorded in it.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the co-signature; default beside PATH as <stem>.<key id>.cosig. Never overwritten.")
def cosign(path: Path, key_path: Path, role: str | None, dissent_path: Path | None, time_zone: str, out: Path | None) -> None:
    """Co-sign the signed protocol in PATH as a commission member.

    The co-signature is a file of its own over the SHA-256 of PATH's exact bytes
    (the station signs first; its bytes never change), with the member's key id,
    role, the local date and time of signing and the dissenting opinion if given.
    Check the protocol first (sailau protocol verify): you sign what it says."""
    from sailau.election import jsonfile
    from sailau.election.cosign import CosignError, cosign as make, cosignature_file_name, write_cosignature
    from sailau.election.members import MembersError, read_members_file

    signed, _ = _load_signed(path)
    try:
        key = crypto.load_signing_key(key_path)
    except crypto.KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    if role is None:
        entry = key_path.with_name("member.json")
        try:
            mine = [m for m in read_members_file(entry).members if m.public_key == crypto.ed25519_public_bytes(key.public_key())]
        except MembersError as exc:
            raise click.UsageError(f"give --role (no readable member.json beside the key: {exc})") from None
        if not mine:
            raise click.UsageError(f"{entry} is not this key's entry: give --role")
        role = mine[0].role.value
    dissent = None
    if dissent_path is not None:
        try:
            dissent = jsonfile.read_bounded(dissent_path, 4 * 4000, "a dissenting opinion", subject=str(dissent_path)).decode("utf-8")
        except (OSError, jsonfile.InputError) as exc:
            raise click.ClickException(f"{dissent_path}: cannot read the dissenting opinion ({exc})") from None
        except UnicodeDecodeError:
            raise click.ClickException(f"{dissent_path}: a dissenting opinion must be UTF-8 text") from None
        dissent = dissent.rstrip("\n")
    try:
        cosig = make(signed, key, role, time_zone=time_zone, dissent=dissent)
        target = out or path.with_name(cosignature_file_name(path.name, cosig))
        write_cosignature(cosig, target)
    except CosignError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"co-signed protocol of precinct {signed.protocol.precinct} ({cosig.protocol_sha256[:16]}...) as {role}, "
               f"key {cosig.member_key_id.hex()}, at {cosig.signed_at.isoformat()} {time_zone}"
               + (" with a dissenting opinion" if dissent else ""))
    click.echo(f"wrote {target}")


@protocol.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--election", "election_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The election definition: names of the election, precinct address, parties and candidates.")
@click.option("--lang", type=click.Choice(["kk", "ru", "en"]), required=True, help="The printing language of this copy.")
@click.option("--registry", "registry_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The signed key registry: the members (names, roles) and their co-signatures are taken from and "
                   "checked against it.")
@click.option("--members", "members_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The precinct's members file (the station's set-up), when no registry is at hand.")
@click.option("--cosig", "cosig_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A co-signature file, besides those found next to PATH; repeatable.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (A4). Never overwritten.")
def wallcopy(path: Path, election_path: Path, lang: str, registry_path: Path | None, members_path: Path | None,
             cosig_paths: tuple[Path, ...], out: Path) -> None:
    """Print the wall copy of the signed protocol in PATH: the numbered lines, the
    members with signature lines, their co-signatures and dissenting opinions, the
    stamp's place and the QR code of the signed protocol, on A4."""
    from sailau.ballot_box.wallcopy import WallCopyError, wall_copy_pdf
    from sailau.election.cosign import check_cosignatures, protocol_digest
    from sailau.election.members import MembersError, read_members_file

    if (registry_path is None) == (members_path is None):
        raise click.UsageError("give --registry or --members (where the commission's names come from)")
    signed, raw = _load_signed(path)
    election = read_election(election_path)
    p = signed.protocol
    if registry_path is not None:
        from sailau.commission.registry import RegistryError, load_registry

        try:
            everyone = load_registry(registry_path, election).registry.members()
        except RegistryError as exc:
            raise click.ClickException(f"refused ({exc.name}): {exc}") from None
    else:
        try:
            everyone = read_members_file(members_path).members
        except MembersError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"members from {members_path}, not from the signed registry: their co-signatures are checked against that list")
    members = [m for m in everyone if m.precinct == p.precinct]
    if not members:
        raise click.ClickException(f"no commission members of precinct {p.precinct} are listed")
    cosigs, unreadable = _cosignatures(path, cosig_paths)
    check = check_cosignatures(signed, cosigs, everyone)
    for problem in [*unreadable, *map(str, check.findings)]:
        click.echo(f"warning: {problem}", err=True)
    if out.exists():
        raise click.ClickException(f"refusing to overwrite {out}")
    try:
        out.write_bytes(wall_copy_pdf(signed, election, lang, members, check, protocol_digest(raw)))
    except WallCopyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out}: wall copy of precinct {p.precinct} in {lang}, {len(check.valid)} of {len(members)} members co-signed")


@protocol.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--election", "election_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The election definition: the names of contests, parties and candidates.")
@click.option("--lang", type=click.Choice(["kk", "ru", "en"]), default="en", show_default=True,
              help="The language of the line labels and names.")
def show(path: Path, election_path: Path, lang: str) -> None:
    """Print the three protocols in the signed protocol file PATH as text: the electronic
    protocol (ballot cards), the paper protocol (the hand count; absent where no paper
    was used) and the combined protocol (the result), each with its numbered lines.
    Only reads: check the signature with `sailau protocol verify`."""
    from sailau.ballot_box.wallcopy import COMBINED, ELECTRONIC, PAPER, TEXT, WallCopyError, protocol_lines

    signed, _ = _load_signed(path)
    election = read_election(election_path)
    p = signed.protocol
    try:
        election.precinct(p.precinct)
    except Exception:
        raise click.ClickException(f"{path}: precinct {p.precinct} is not in the election definition {election_path}") from None
    if p.election_id != election.id:
        raise click.ClickException(f"{path}: a protocol of election {p.election_id!r}, the definition is {election.id!r}")
    click.echo(f"{TEXT['precinct'][lang]} {p.precinct}: {election.name.get(lang)}")
    for which in (ELECTRONIC, PAPER, COMBINED):
        click.echo("")
        click.echo(f"== {TEXT['protocol.' + which][lang]}")
        if which == PAPER and p.paper is None:
            click.echo("   —")
            continue
        try:
            sections = protocol_lines(signed, election, lang, which)
        except (WallCopyError, KeyError) as exc:
            raise click.ClickException(f"{path}: {exc}") from None
        split = which == COMBINED and p.paper is not None
        for section in sections:
            if section.title is not None:
                click.echo(f"   {section.title}" + (f"  [{TEXT['electronic'][lang]} / {TEXT['paper'][lang]} / "
                                                    f"{TEXT['total'][lang]}]" if split else ""))
            for ln in section.lines:
                parts = f"{ln.electronic} / {ln.paper} / " if ln.electronic is not None and ln.paper is not None else ""
                click.echo(f"{ln.number:>4}. {ln.label}: {parts}{ln.value}")
    if p.discrepancies:
        click.echo("")
        click.echo(f"{TEXT['discrepancies'][lang]}: {', '.join(p.discrepancies)}")
