"""`sailau registry`: sign the precinct key registry under the election's registry
root, and check a signed one.

The registry (stations.json) says which station, terminal and commission-member
keys belong to which precinct; import and `sailau verify` accept it only when it
is signed by the root the election definition names (commission/registry.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from sailau.election import crypto


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[int, Path]]:
    out = []
    for value in values:
        number, sep, path = value.partition("=")
        if not sep or not number.strip().isdigit() or not path:
            raise click.UsageError(f"{option} takes PRECINCT=PUBLIC_KEY_FILE, got {value!r}")
        out.append((int(number), Path(path)))
    return out


def _public(path: Path) -> bytes:
    try:
        return crypto.ed25519_public_bytes(crypto.load_verify_key(path))
    except crypto.KeyFileError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def registry() -> None:
    """The precinct key registry, signed under the election's registry root."""


@registry.command("sign")
@click.option("--election", "election_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The election definition; its registry_root_key must be the key given with --root-key.")
@click.option("--root-key", "root_key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The registry root's private key (sailau keys registry-root).")
@click.option("--from", "draft_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take the enrolments of this registry file (any version, signed or not) as the starting point.")
@click.option("--station", "stations", multiple=True, metavar="PRECINCT=FILE",
              help="Enrol the station public key in FILE for PRECINCT (replaces one taken --from); repeatable.")
@click.option("--terminal", "terminals", multiple=True, metavar="PRECINCT=FILE",
              help="Enrol a booth terminal's public key for PRECINCT; repeatable.")
@click.option("--member", "members", multiple=True, metavar="PRECINCT=FILE",
              help="Enrol a commission member's public key for PRECINCT; repeatable.")
@click.option("--members", "members_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Enrol a precinct's commission members, with roles and names, from its members file "
                   "(sailau registry members); replaces the members taken --from for that precinct; repeatable.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the signed registry (stations.json of the published set). Never overwritten.")
def sign_cmd(election_path: Path, root_key_path: Path, draft_path: Path | None, stations: tuple[str, ...],
             terminals: tuple[str, ...], members: tuple[str, ...], members_files: tuple[Path, ...], out: Path) -> None:
    """Sign the registry of the election's precincts under its registry root."""
    from sailau.commission.registry import RegistryError, build_registry, read_registry_draft, sign_registry, write_registry
    from sailau.election.definition import DefinitionError, load_election
    from sailau.election.members import MembersError, read_members_file

    try:
        election = load_election(election_path)
    except (DefinitionError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if out.exists():
        raise click.ClickException(f"refusing to overwrite {out}")
    try:
        root = crypto.load_signing_key(root_key_path)
    except crypto.KeyFileError as e:
        raise click.ClickException(str(e)) from None
    root_public = crypto.ed25519_public_bytes(root.public_key())
    if election.registry_root_key is None:
        raise click.ClickException(f"{election_path} names no registry_root_key: put the root's public key into the definition first")
    if root_public != election.registry_root_key:
        raise click.ClickException(f"{root_key_path} is not the registry root {election_path} names (key id "
                                   f"{crypto.key_id(election.registry_root_key).hex()}, this is {crypto.key_id(root_public).hex()})")
    station: dict[int, bytes] = {}
    more: dict[str, dict[int, list]] = {"terminals": {}, "members": {}}
    try:
        if draft_path is not None:
            draft = read_registry_draft(draft_path)
            if draft.election_id != election.id:
                raise click.ClickException(f"{draft_path} enrols keys for election {draft.election_id!r}, not {election.id!r}")
            for s in draft.stations:
                station[s.precinct] = s.public_key
                more["terminals"][s.precinct] = [t.public_key for t in s.terminals]
                named = {m.key_id: m for m in draft.members()}
                more["members"][s.precinct] = [named[m.key_id] if m.role is not None else m.public_key for m in s.members]
        for f in members_files:
            try:
                commission = read_members_file(f)
            except MembersError as e:
                raise click.ClickException(str(e)) from None
            more["members"][commission.precinct] = list(commission.members)
        for n, p in _pairs(stations, "--station"):
            station[n] = _public(p)
        for given, option, role in ((terminals, "--terminal", "terminals"), (members, "--member", "members")):
            for n, p in _pairs(given, option):
                more[role].setdefault(n, []).append(_public(p))
        lone = sorted(n for role in more.values() for n, keys in role.items() if keys and n not in station)
        if lone:
            raise click.ClickException(f"precinct(s) {', '.join(map(str, lone))}: terminal or member keys need the precinct's --station key too")
        unknown = sorted(n for n in station if n not in {p.number for p in election.precincts})
        if unknown:
            raise click.ClickException(f"precinct(s) {', '.join(map(str, unknown))} are not in {election_path}")
        registry_ = build_registry(election.id, election.fingerprint_hex, sorted(station.items()), more["terminals"], more["members"])
    except RegistryError as e:
        raise click.ClickException(str(e)) from None
    if not registry_.stations:
        raise click.UsageError("nothing to enrol: give --from or --station")
    write_registry(sign_registry(registry_, root), out)
    missing = sorted(p.number for p in election.precincts if p.number not in registry_.by_precinct)
    click.echo(f"signed the registry of {len(registry_.stations)} precinct(s) with registry root {crypto.key_id(root_public).hex()}")
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        click.echo(f"warning: {len(missing)} precinct(s) of the definition have no station key: {shown}", err=True)
    click.echo(f"wrote {out}")


@registry.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--election", "election_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The election definition naming the registry root.")
def check_cmd(path: Path, election_path: Path) -> None:
    """Check that the registry in PATH is signed under the root the definition names."""
    from sailau.commission.registry import RegistryError, load_registry
    from sailau.election.definition import DefinitionError, load_election

    try:
        election = load_election(election_path)
    except (DefinitionError, OSError) as e:
        raise click.ClickException(str(e)) from None
    try:
        signed = load_registry(path, election)
    except RegistryError as e:
        raise click.ClickException(f"refused ({e.name}): {e}") from None
    r = signed.registry
    click.echo(f"{path}: OK, election {election.id}, {len(r.stations)} station(s), "
               f"{sum(len(s.terminals) for s in r.stations)} terminal(s), {sum(len(s.members) for s in r.stations)} member key(s), "
               f"signed by registry root {signed.root_key_id.hex()}")


@registry.command("members")
@click.argument("entries", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the precinct's members file (members.json of the station's set-up). Never overwritten.")
def members_cmd(entries: tuple[Path, ...], out: Path) -> None:
    """Join the members files ENTRIES (each member's member.json from sailau keys member)
    into one precinct's members file, for the station's set-up and for sailau registry sign --members."""
    from sailau.election.members import MembersError, join_members, read_members_file, write_members_file

    try:
        joined = join_members(read_members_file(e) for e in entries)
        write_members_file(joined, out)
    except MembersError as e:
        raise click.ClickException(str(e)) from None
    for m in joined.members:
        click.echo(f"{m.role.value:12} {m.name}  key {m.key_id.hex()}")
    click.echo(f"wrote {out}: precinct {joined.precinct}, {len(joined.members)} member(s)")
