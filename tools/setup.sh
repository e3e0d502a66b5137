#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working checkout:
# system packages (PC/SC stack with the vpcd virtual reader, PostgreSQL, build
# tools for pyscard), a virtualenv at .venv, and the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-dev build-essential \
    pcscd vsmartcard-vpcd pcsc-tools libpcsclite-dev swig \
    postgresql espeak-ng chromium chromium-driver \
    >/dev/null

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# The benchmark peer (sailau bench): ElectionGuard pins pydantic 1.9 in its
# metadata, so it goes in without its declared dependencies (the modules the
# benchmark uses run on pydantic 2); its real ones are listed here.
.venv/bin/python -m pip install -q --no-deps electionguard==1.4.0 gmpy2 dacite psutil
echo "setup: done ($(.venv/bin/python --version), $(.venv/bin/sailau --version))"
