"""`--operator-log` and `--log-level`, the same two options on both apps' commands
(`sailau ballot-box`, `sailau terminal`); the log itself is `sailau.election.oplog`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from sailau.election.oplog import ENV_LEVEL, ENV_PATH, LEVELS

F = TypeVar("F", bound=Callable[..., object])


def log_options(default: str) -> Callable[[F], F]:
    """The two options; `default` says where the log goes when neither option nor environment names it."""

    def decorate(command: F) -> F:
        command = click.option(
            "--log-level", "log_level", type=click.Choice(LEVELS, case_sensitive=False), default=None,
            help=f"Lowest level the operator log records (or ${ENV_LEVEL}; default INFO).")(command)
        return click.option(
            "--operator-log", "operator_log", type=click.Path(dir_okay=False, path_type=Path), default=None,
            help=f"Rotating log of raw errors for technicians (no vote data, IINs masked; created 0600), or "
                 f"${ENV_PATH}; default {default}. The screen shows plain words only.")(command)

    return decorate
