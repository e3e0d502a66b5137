#!/usr/bin/env bash
# The test command: the whole suite except long campaigns (-m slow).
# Fixtures start pcscd + vpcd and PostgreSQL themselves. "No tests ran"
# (pytest exit 5) is a failure, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -m "not slow" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
