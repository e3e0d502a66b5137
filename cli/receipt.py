"""`sailau receipt check CODE --dir PUBLISHED`: a voter's check that their ballot was
counted where it should be.

The code (shown in the booth) is looked up in the published receipt lists; the
list that holds it must hash to the commitment in its precinct's signed protocol,
that protocol must be signed by the station key the registry enrols for the
precinct, and the registry by the root the election definition names. Each link
is checked from the published files; `--proof FILE` writes the inclusion proof
(the page of the sorted list holding the code and the path to the signed root),
which anyone can check against the posted protocol.

Exit 0: found, and every link holds. 1: not found, or found but a link fails
(the message says which and what to do). 2: the set cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def receipt() -> None:
    """Receipt codes: is my ballot in the published, signed count?"""


@receipt.command("check")
@click.argument("code")
@click.option("--dir", "directory", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The published set (election.json, stations.json, protocols/, receipts/).")
@click.option("--precinct", type=click.IntRange(min=1), help="Look in this precinct's list only.")
@click.option("--proof", "proof_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the inclusion proof of the code here (JSON).")
def check_cmd(code: str, directory: Path, precinct: int | None, proof_path: Path | None) -> None:
    """Tell whether receipt CODE is in a published receipt list, and whether that list
    is the one its precinct's signed protocol commits to."""
    from sailau.commission.checks import Refusal, check_protocol_file
    from sailau.commission.conflicts import PrecinctStatus, decide_precinct
    from sailau.commission.verify import VerifyError, load_published_trust, published_decisions
    from sailau.election.protocol import ProtocolError, SignedProtocol
    from sailau.election.receipts import ReceiptListError, prove_inclusion, read_receipt_list, verify_inclusion
    from sailau.election.record import ReceiptCodeError, normalize_receipt_code

    try:
        wanted = normalize_receipt_code(code)
    except ReceiptCodeError as e:
        raise click.UsageError(str(e)) from None
    try:
        election, registry = load_published_trust(directory)
    except VerifyError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)

    holding = []
    for path in sorted((directory / "receipts").glob("*.json")):
        try:
            lst = read_receipt_list(path)
        except ReceiptListError:
            continue  # `sailau verify` names unreadable lists; a voter's question is about their code
        if (lst.election_id, lst.election_fingerprint) != (election.id, election.fingerprint_hex):
            continue
        if (precinct is None or lst.precinct == precinct) and wanted in lst.codes:
            holding.append((path, lst))
    if not holding:
        where = f"precinct {precinct}'s list" if precinct else "any receipt list"
        click.echo(f"{wanted}: NOT found in {where} of {directory}. Check the code you noted in the booth; "
                   "if it is right, report it to the commission and to observers.")
        sys.exit(1)

    decisions, _ = published_decisions(directory, election)
    failed = False
    for path, lst in holding:
        n = lst.precinct
        versions = []
        for protocol_path in sorted((directory / "protocols").glob("*.json")):
            raw = protocol_path.read_bytes()
            try:
                if SignedProtocol.from_canonical_json(raw).protocol.precinct != n:
                    continue
            except ProtocolError:
                continue
            checked = check_protocol_file(raw, str(protocol_path), election, registry)
            if not isinstance(checked, Refusal):
                versions.append(checked)
        outcome = decide_precinct(n, [c.digest for c in versions], decisions)
        proof = prove_inclusion(lst, wanted)
        assert proof is not None  # the code is in the list
        if outcome.counted is None:
            matching = [c.source for c in versions if c.protocol.receipts is not None and verify_inclusion(proof, c.protocol.receipts)]
            click.echo(f"{wanted}: found in {path} (precinct {n}), but precinct {n} has no counted protocol: {outcome.why}"
                       + (f"; the list matches {', '.join(matching)}" if matching else "")
                       + ". Report it to the commission and to observers.")
            failed = True
            continue
        counted = next(c for c in versions if c.digest == outcome.counted)
        commitment = counted.protocol.receipts
        assert commitment is not None  # a counted protocol passed `receipts:missing`
        if not verify_inclusion(proof, commitment):
            click.echo(f"{wanted}: found in {path} (precinct {n}), but that list does NOT match the receipt commitment "
                       f"in the signed protocol {counted.source} (root {commitment.root[:16]}..., {commitment.count} codes): "
                       "the list was changed after the protocol was signed. Report it to the commission and to observers.")
            failed = True
            continue
        settled = " (counted by the commission's signed decision)" if outcome.status is PrecinctStatus.RESOLVED else ""
        click.echo(f"{wanted}: found in precinct {n}'s receipt list ({path}), under the root its signed protocol "
                   f"{counted.source}{settled} commits to ({commitment.root[:16]}..., {commitment.count} codes; "
                   f"page {proof.page_index + 1} of {commitment.pages}), signed by the station key enrolled for precinct {n} "
                   f"in the registry of election {election.id}.")
        if proof_path is not None:
            proof_path.write_bytes(proof.to_json_bytes())
            click.echo(f"wrote the inclusion proof to {proof_path}")
    if failed:
        sys.exit(1)
