"""`sailau protocol verify FILE [--election FILE] [--station-key FILE] [--audit LOG.jsonl]
[--receipts LIST]`: check a signed precinct protocol. Exit 0 when the signature
verifies and every control relation holds (and, with --audit, the exported audit
log reaches the head the protocol anchors; with --receipts, the receipt list hashes
to the commitment the protocol signs); otherwise exit 1 naming each problem (one
per line). A relation the station declared broken (`discrepancies`) is named as a
declared discrepancy (the commission refuses such a protocol as `discrepancy`);
one it broke without declaring it, or declared falsely, as the relation itself."""

from __future__ import annotations

from pathlib import Path

import click

from sailau.ballot_box import audit
from sailau.election import crypto, filekind
from sailau.election.definition import DefinitionError, load_election
from sailau.election.protocol import (
    ProtocolError,
    ProtocolFormatError,
    UNDECLARABLE_RELATIONS,
    SignedProtocol,
    read_protocol_file,
    undeclared_violations,
    validate_protocol,
    verify_signed_protocol,
)
from sailau.election.receipts import ReceiptListError, read_receipt_list


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
def verify(path: Path, election_path: Path | None, station_key_path: Path | None, audit_path: Path | None,
           receipts_path: Path | None) -> None:
    """Check the signature and the control relations of the signed protocol in PATH."""
    problems: list[str] = []
    try:
        raw = read_protocol_file(path)
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
        try:
            election = load_election(election_path)
        except DefinitionError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"{election_path}: cannot read ({exc.strerror})") from None
    p = signed.protocol
    for violation in undeclared_violations(p, election):
        problems.append(f"{violation.name}: {violation.message}")
    declared = set(p.discrepancies) - UNDECLARABLE_RELATIONS
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
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{path}: {len(problems)} problem(s); protocol of precinct {p.precinct} NOT verified")
    click.echo(f"{path}: OK, precinct {p.precinct}, election {p.election_id}, signed by station key "
               f"{signed.station_key_id.hex()}" + ("" if trusted else " (signer not checked: pass --station-key)")
               + ("" if audit_path is None or p.audit is None else
                  f"; audit log reaches event {p.audit.seq} ({p.audit.hash[:16]}...)")
               + ("" if receipts_path is None or p.receipts is None else
                  f"; receipt list matches its commitment ({p.receipts.count} codes)"))
