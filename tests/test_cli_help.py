"""Every `sailau` command, nested groups included, loads, answers --help, and says
what each of its options is for: a person should never meet an option whose help
is blank. (The walk loads every lazily registered subcommand, so a broken import
fails here, not when someone first types that command.)"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from sailau.cli.main import COMMANDS, LazyGroup, cli

#: options click adds by itself; their help is click's own
OWN = {"help", "version"}


def command_tree() -> list[tuple[tuple[str, ...], click.Command]]:
    """(path, command) for `sailau` and everything below it, depth first."""
    ctx = click.Context(cli, info_name="sailau")
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"sailau {' '.join((*path, name))} is listed but does not load"
                walk(sub, (*path, name))

    walk(cli, ())
    return found


COMMANDS_TREE = command_tree()


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("sailau", *path))


def test_the_walk_reaches_every_registered_and_nested_command() -> None:
    assert isinstance(cli, LazyGroup)
    paths = {path for path, _ in COMMANDS_TREE}
    assert {(name,) for name in COMMANDS} <= paths
    assert {("commission", "synth"), ("station", "status"), ("audit", "verify"), ("protocol", "verify")} <= paths


def test_every_option_has_help() -> None:
    blank = [
        f"{_name(path)} {'/'.join(param.opts)}"
        for path, command in COMMANDS_TREE
        for param in command.params
        if isinstance(param, click.Option) and param.name not in OWN and not (param.help or "").strip()
    ]
    assert not blank, "options without help text:\n" + "\n".join(blank)


def test_every_command_has_a_description() -> None:
    bare = [_name(path) for path, command in COMMANDS_TREE if not (command.help or command.short_help or "").strip()]
    assert not bare, bare


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS_TREE], ids=_name)
def test_help_exits_0(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, f"{_name(path)} --help: {result.output}{result.exception!r}"
    assert "Usage:" in result.output


def test_no_help_suggests_credentials_on_the_command_line() -> None:
    """A database password belongs in SAILAU_DB_URL or a --db-url-file, never in an example."""
    for path, _ in COMMANDS_TREE:
        text = CliRunner().invoke(cli, [*path, "--help"]).output
        assert ":PW@" not in text and "USER:PW" not in text, _name(path)
