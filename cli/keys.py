"""`sailau keys`: the election key ceremony, terminal/station signing keys and the
card master key.

Every secret goes to its own file, mode 0600, never over an existing file
(`sailau.election.secretfile`), and each commission member's share to a place of
its own: a directory per member (0700) that is handed over whole, or a
destination the member brings (`--member-dir`, e.g. their removable medium).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sailau.election import crypto, secretfile, shares

PUBLIC_KEY_FILE = "election-public-key.pem"


def _share_file_name(index: int, n: int) -> str:
    return f"share-{index}-of-{n}.json"


def _member_dir_name(index: int) -> str:
    return f"member-{index}"


def _out_option(help: str, directory: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--out: a file (parameter `out`) or, with `directory`, a folder (`out_dir`); required."""
    if directory:
        return click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                            help=help)
    return click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help=help)


@click.group()
def keys() -> None:
    """Generate the election key (split k-of-n), Ed25519 terminal/station keys and the card master key."""


@keys.command("election")
@click.option("--k", "k", type=int, required=True, help="Shares needed to decrypt (threshold).")
@click.option("--n", "n", type=int, required=True, help="Shares made, one per commission member (max 16).")
@click.option("--election-id", required=True, help="Election identifier written into every share.")
@_out_option("Directory for the public key (created if missing); without --member-dir each share goes "
             "into its own subdirectory member-I/ (mode 0700) here, to be handed to member I.", directory=True)
@click.option(
    "--member-dir",
    "member_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where member I's share goes (give it n times, in member order; e.g. each member's own "
         "removable medium); created 0700 if missing. No two members may share a directory.",
)
def election_cmd(k: int, n: int, election_id: str, out_dir: Path, member_dirs: tuple[Path, ...]) -> None:
    """Generate the election key pair and split the private key into n shares.

    Writes election-public-key.pem (X25519, for the definition and the terminals)
    into --out, and share-I-of-N.json (mode 0600; a 33-word SLIP-39 mnemonic) for
    each member I into a directory of its own: --out/member-I/ (mode 0700), or the
    I-th --member-dir. No directory ever holds two shares, so no one copy of a
    folder gives anyone k of them. The private key itself is never written: any k
    shares rebuild it at the close of polls, which is checked before anything is
    written. Existing files are never overwritten: every target is checked first.
    """
    pair = crypto.ElectionKeyPair.generate()
    try:
        made = shares.split_election_key(pair.private_key, k, n, election_id, pair.public_key_bytes)
    except shares.ShareParameterError as e:
        raise click.UsageError(str(e)) from None
    if member_dirs and len(member_dirs) != n:
        raise click.UsageError(f"give --member-dir once per member: {n} times, not {len(member_dirs)}")
    dirs = list(member_dirs) or [out_dir / _member_dir_name(i) for i in range(1, n + 1)]
    resolved = [os.path.realpath(d) for d in dirs]
    if len(set(resolved)) != n or os.path.realpath(out_dir) in resolved:
        raise click.UsageError("each member's share needs a directory of its own, apart from --out and from each other")
    public_path = out_dir / PUBLIC_KEY_FILE
    share_paths = [dirs[share.index - 1] / _share_file_name(share.index, n) for share in made]
    existing = [str(p) for p in [public_path, *share_paths] if p.exists()]
    if existing:
        raise click.ClickException(f"refusing to overwrite: {', '.join(existing)}")
    # Check the ceremony before anyone leaves the room: the first k shares rebuild the key.
    shares.reconstruct_election_key(made[:k], pair.public_key_bytes, election_id)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for d in dirs:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        crypto.save_election_public_key(public_path, pair.public_key)
        for share, path in zip(made, share_paths):
            shares.write_share_file(path, share)
    except OSError as e:
        raise click.ClickException(f"cannot create {e.filename}: {e.strerror}") from None
    except (crypto.KeyFileError, shares.ShareFileError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"election {election_id}: {k}-of-{n} key split")
    click.echo(f"public key {pair.public_key_bytes.hex()}")
    click.echo(f"wrote {public_path}")
    for share, path in zip(made, share_paths):
        click.echo(f"wrote {path} (member {share.index}: hand over {path.parent}, keep no copy)")


def _new_signing_key(out: Path, role: str) -> bytes:
    """Generate an Ed25519 key, write it to `out` (0600) and its public key beside it
    (suffix .pub), never over an existing file; print what was written. Returns the
    raw public key."""
    public_path = out.with_suffix(".pub")
    if public_path == out:
        raise click.UsageError(f"{out}: the private key file must not end in .pub")
    existing = [str(p) for p in (out, public_path) if p.exists()]
    if existing:
        raise click.ClickException(f"refusing to overwrite: {', '.join(existing)}")
    key = crypto.generate_signing_key()
    try:
        crypto.save_signing_key(out, key)
        crypto.save_verify_key(public_path, key.public_key())
    except crypto.KeyFileError as e:
        raise click.ClickException(str(e)) from None
    public = crypto.ed25519_public_bytes(key.public_key())
    click.echo(f"{role} key id {crypto.key_id(public).hex()}")
    click.echo(f"wrote {out}")
    click.echo(f"wrote {public_path}")
    return public


def _signing_key_cmd(role: str) -> click.Command:
    @click.command(
        role,
        help=(
            f"Generate an Ed25519 {role} signing key. Writes FILE (private key, PKCS#8 PEM, "
            f"mode 0600) and FILE with suffix .pub (public key PEM, to enrol), and prints "
            f"the key id (first 8 bytes of SHA-256 of the public key). Never overwrites."
        ),
    )
    @_out_option("Private key file; the public key goes beside it with suffix .pub.")
    def cmd(out: Path) -> None:
        _new_signing_key(out, role)

    return cmd


keys.add_command(_signing_key_cmd("terminal"))
keys.add_command(_signing_key_cmd("station"))


@keys.command("card-master")
@_out_option("File for the key (hex text, mode 0600); never overwritten.")
@click.option("--bytes", "length", type=click.Choice(["16", "24", "32"]), default="32", show_default=True,
              help="Key length: AES-128, -192 or -256 for the card-key diversification.")
def card_master_cmd(out: Path, length: str) -> None:
    """Generate a station's card master key (random, from the operating system's CSPRNG).

    The ballot box (--card-master-key) issues and clears cards with it, and every
    card's own key is diversified from it by the card serial, so it is given to the
    stations of one precinct and to the card personalisation, and to no one else.
    The key is never printed.
    """
    from sailau.smartcard.card_keys import generate_master_key, master_key_file_bytes

    try:
        secretfile.write_secret_file(out, master_key_file_bytes(generate_master_key(int(length))), "card master key")
    except secretfile.SecretFileError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{out}: cannot create ({e.strerror})") from None
    click.echo(f"wrote {out} (card master key, {length} bytes, mode 0600)")


@keys.command("check-shares")
@click.option(
    "--public-key",
    "public_key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The election public key file (PEM or 32 raw bytes).",
)
@click.option("--election-id", default=None, help="Refuse shares of any other election id.")
@click.argument("share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check_shares_cmd(public_key_path: Path, election_id: str | None, share_files: tuple[Path, ...]) -> None:
    """Check that SHARE_FILES rebuild the election key (without printing or writing it)."""
    try:
        public_key = crypto.load_election_public_key(public_key_path)
        shares.reconstruct_from_files(list(share_files), public_key, election_id)
    except (crypto.KeyFileError, shares.ShareError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"ok: {len(share_files)} share file(s) rebuild the election key {crypto.x25519_public_bytes(public_key).hex()}")


# --- the registry root (the election's trust root) -------------------------------------------


@keys.command("registry-root")
@_out_option("Private key file (mode 0600; keep it offline); the public key goes beside it with suffix .pub.")
def registry_root_cmd(out: Path) -> None:
    """Generate the registry root: the Ed25519 key that signs the precinct key
    registry (sailau registry sign) and the commission's conflict decisions.

    Writes FILE (PKCS#8 PEM, mode 0600) and FILE with suffix .pub, and prints the
    line to put into the election definition, whose fingerprint then pins this
    root: an observer needs nothing but the definition to check a published set.
    Never overwrites.
    """
    public = _new_signing_key(out, "registry root")
    click.echo(f'in the election definition: "registry_root_key": "{public.hex()}"')


# --- commission members ----------------------------------------------------------------------


@keys.command("member")
@click.option("--precinct", type=click.IntRange(min=1), required=True, help="The precinct whose commission the member sits on.")
@click.option("--role", type=click.Choice(["chair", "deputy_chair", "secretary", "member"]), required=True,
              help="The member's role on the commission.")
@click.option("--name", required=True, help="The member's full name, as printed on the protocol's wall copy.")
@_out_option("The member's own directory (created 0700; e.g. their removable medium): member.key (0600), "
             "member.pub and member.json (their entry for the members file) go there. Never overwritten.",
             directory=True)
def member_cmd(precinct: int, role: str, name: str, out_dir: Path) -> None:
    """Make a commission member's Ed25519 key at the key ceremony.

    Writes OUT/member.key (the private key, PKCS#8 PEM, mode 0600: the member
    keeps it and co-signs protocols with it, sailau protocol cosign), OUT/member.pub
    and OUT/member.json, the member's entry (precinct, role, name, public key) that
    sailau registry members joins into the precinct's members file."""
    from sailau.election.members import CommissionMembers, Member, MembersError, write_members_file

    entry = out_dir / "member.json"
    if entry.exists():
        raise click.ClickException(f"refusing to overwrite: {entry}")
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise click.ClickException(f"cannot create {out_dir}: {e.strerror}") from None
    try:
        Member(precinct, role, name, bytes(32))  # the name and role are checked before a key is made
    except MembersError as e:
        raise click.UsageError(str(e)) from None
    public = _new_signing_key(out_dir / "member.key", f"{role} of precinct {precinct}")
    try:
        write_members_file(CommissionMembers(precinct, (Member(precinct, role, name, public),)), entry)
    except MembersError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {entry}")
