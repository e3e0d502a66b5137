"""`sailau keys`: the election key ceremony and terminal/station signing keys."""

from __future__ import annotations

from pathlib import Path

import click

from sailau.election import crypto, shares

PUBLIC_KEY_FILE = "election-public-key.pem"


def _share_file_name(index: int, n: int) -> str:
    return f"share-{index}-of-{n}.json"


@click.group()
def keys() -> None:
    """Generate the election key (split k-of-n) and Ed25519 terminal/station keys."""


@keys.command("election")
@click.option("--k", "k", type=int, required=True, help="Shares needed to decrypt (threshold).")
@click.option("--n", "n", type=int, required=True, help="Shares made, one per commission member (max 16).")
@click.option("--election-id", required=True, help="Election identifier written into every share.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the public key and the share files (created if missing).",
)
def election_cmd(k: int, n: int, election_id: str, out_dir: Path) -> None:
    """Generate the election key pair and split the private key into n shares.

    Writes election-public-key.pem (X25519, for the definition and the terminals)
    and share-I-of-N.json (mode 0600, one per commission member; each holds a
    33-word SLIP-39 mnemonic). The private key itself is never written: any k
    shares rebuild it at the close of polls. Existing files are never overwritten.
    """
    pair = crypto.ElectionKeyPair.generate()
    try:
        made = shares.split_election_key(pair.private_key, k, n, election_id, pair.public_key_bytes)
    except shares.ShareParameterError as e:
        raise click.UsageError(str(e)) from None
    targets = [out_dir / PUBLIC_KEY_FILE] + [out_dir / _share_file_name(i, n) for i in range(1, n + 1)]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise click.ClickException(f"refusing to overwrite: {', '.join(existing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Check the ceremony before anyone leaves the room: the first k shares rebuild the key.
    shares.reconstruct_election_key(made[:k], pair.public_key_bytes, election_id)
    try:
        crypto.save_election_public_key(targets[0], pair.public_key)
        for share in made:
            shares.write_share_file(out_dir / _share_file_name(share.index, n), share)
    except (crypto.KeyFileError, shares.ShareFileError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"election {election_id}: {k}-of-{n} key split")
    click.echo(f"public key {pair.public_key_bytes.hex()}")
    click.echo(f"wrote {targets[0]}")
    for share in made:
        click.echo(f"wrote {out_dir / _share_file_name(share.index, n)}")


def _signing_key_cmd(role: str) -> click.Command:
    @click.command(
        role,
        help=(
            f"Generate an Ed25519 {role} signing key. Writes FILE (private key, PKCS#8 PEM, "
            f"mode 0600) and FILE with suffix .pub (public key PEM, to enrol), and prints "
            f"the key id (first 8 bytes of SHA-256 of the public key). Never overwrites."
        ),
    )
    @click.option(
        "--out",
        "out",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="Private key file; the public key goes beside it with suffix .pub.",
    )
    def cmd(out: Path) -> None:
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
        click.echo(f"{role} key id {crypto.key_id(key.public_key()).hex()}")
        click.echo(f"wrote {out}")
        click.echo(f"wrote {public_path}")

    return cmd


keys.add_command(_signing_key_cmd("terminal"))
keys.add_command(_signing_key_cmd("station"))


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
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key file (mode 0600; keep it offline); the public key goes beside it with suffix .pub.",
)
def registry_root_cmd(out: Path) -> None:
    """Generate the registry root: the Ed25519 key that signs the precinct key
    registry (sailau registry sign) and the commission's conflict decisions.

    Writes FILE (PKCS#8 PEM, mode 0600) and FILE with suffix .pub, and prints the
    line to put into the election definition, whose fingerprint then pins this
    root: an observer needs nothing but the definition to check a published set.
    Never overwrites.
    """
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
    click.echo(f"registry root key id {crypto.key_id(public).hex()}")
    click.echo(f"wrote {out}")
    click.echo(f"wrote {public_path}")
    click.echo(f'in the election definition: "registry_root_key": "{public.hex()}"')
