"""The namespace layout of DESIGN.md section 1: our `sailau.smartcard` and
pyscard's `smartcard` must both import in one process started at the repo root."""

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


def test_smartcard_folder_has_no_init():
    assert not (ROOT / "smartcard" / "__init__.py").exists()


def test_pyscard_and_ours_import_together_in_pytest():
    import smartcard.System  # pyscard
    import sailau.smartcard

    assert "site-packages" in smartcard.System.__file__
    assert str(ROOT / "smartcard") in list(sailau.smartcard.__path__)


def test_pyscard_and_ours_import_together_from_repo_root():
    code = (
        "import smartcard.System, smartcard.CardMonitoring, sailau.smartcard;"
        "print(smartcard.System.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "site-packages" in out.stdout


def test_cli_help_lists_subcommands():
    from sailau.cli.main import COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert name in result.output


# Every subcommand, nested ones too, imports and answers --help: tests/test_cli_help.py.


def test_import_direction():
    """DESIGN.md section 1: election and smartcard import nothing else of ours;
    commission imports election only; terminal and ballot_box never each other."""
    import ast

    allowed = {
        "election": {"election"},
        "smartcard": {"smartcard"},
        "commission": {"commission", "election"},
        "terminal": {"terminal", "election", "smartcard"},
        "ballot_box": {"ballot_box", "election", "smartcard"},
    }
    problems = []
    for folder, ok in allowed.items():
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "sailau" and len(parts) > 1 and parts[1] not in ok:
                        problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, "\n".join(problems)
