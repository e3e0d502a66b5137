#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working checkout:
# system packages (PC/SC stack with the vpcd virtual reader, PostgreSQL, build
# tools for pyscard, espeak-ng, Chromium), a virtualenv at .venv holding exactly
# the hash-pinned lock in tools/lock/, and the project in editable mode.
#
# One line per phase; the tools' own output goes to build/setup.log, whose last
# lines are shown, with the phase that failed, when something goes wrong.
# A second run checks and skips: apt runs only for a missing package, and the
# virtualenv is rebuilt from scratch only when the lock (or Python) changed, so
# it never holds packages the lock does not name.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    python3 python3-venv python3-dev build-essential
    pcscd vsmartcard-vpcd pcsc-tools libpcsclite-dev swig
    postgresql espeak-ng chromium chromium-driver tmux poppler-utils
)
PY="${PYTHON:-python3}"
LOG=build/setup.log
mkdir -p build
: >"$LOG"
started=$SECONDS
phase=""

say() { printf 'setup: %s\n' "$*"; }
failed() {
    local rc=$?
    printf 'setup: FAILED in phase "%s" (exit %s); the last lines of %s:\n' "$phase" "$rc" "$LOG" >&2
    tail -n 25 "$LOG" | sed 's/^/  | /' >&2
    exit "$rc"
}
trap failed ERR
run() { printf '\n$ %s\n' "$*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

phase="system packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "system packages: all ${#APT_PACKAGES[@]} present"
else
    export DEBIAN_FRONTEND=noninteractive
    run $SUDO apt-get update
    run $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
    say "system packages: installed ${missing[*]}"
fi

phase="virtualenv"
# The lock's stamp: the lock files and the interpreter. A different stamp means
# a new, empty virtualenv, so that what is installed is exactly the lock.
stamp=$( { cat tools/lock/build.txt tools/lock/requirements.txt tools/lock/bench-peer.txt; "$PY" --version; } | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.sailau-lock 2>/dev/null)" = "$stamp" ]; then
    say "virtualenv: .venv matches the lock"
else
    [ -e .venv ] && run rm -rf .venv
    run "$PY" -m venv .venv
    pip=(.venv/bin/python -m pip install --disable-pip-version-check --no-input --require-hashes)
    phase="build tools (tools/lock/build.txt)"
    run "${pip[@]}" -r tools/lock/build.txt
    phase="packages (tools/lock/requirements.txt)"
    # No build isolation: pyscard builds from source with the pinned setuptools
    # and Debian's swig, never with an unpinned download.
    run "${pip[@]}" --no-build-isolation -r tools/lock/requirements.txt
    phase="benchmark peer (tools/lock/bench-peer.txt)"
    # ElectionGuard pins pydantic 1.9 in its metadata; the modules the benchmark
    # uses run on pydantic 2, so it goes in without its declared dependencies.
    run "${pip[@]}" --no-deps -r tools/lock/bench-peer.txt
    echo "$stamp" >.venv/.sailau-lock
    rm -f .venv/.sailau-project
    say "virtualenv: .venv built from the lock ($(grep -c '^[a-z0-9]' tools/lock/requirements.txt) + $(grep -c '^[a-z0-9]' tools/lock/bench-peer.txt) pinned lines)"
fi

phase="the project (pip install -e .)"
project=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat .venv/.sailau-project 2>/dev/null)" = "$project" ] && .venv/bin/sailau --version >/dev/null 2>&1; then
    say "project: installed"
else
    run .venv/bin/python -m pip install --disable-pip-version-check --no-input --no-deps --no-build-isolation -e .
    echo "$project" >.venv/.sailau-project
    say "project: installed in editable mode"
fi

trap - ERR
say "done in $((SECONDS - started)) s: $(.venv/bin/python --version), $(.venv/bin/sailau --version); log in $LOG"
