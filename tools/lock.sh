#!/usr/bin/env bash
# Refresh the hash-pinned lock in tools/lock/ (the only command that changes it).
#
#   bash tools/lock.sh                       # re-resolve, keeping every pin that still fits
#   bash tools/lock.sh --upgrade-package NAME  # move one dependency to its newest allowed release
#   bash tools/lock.sh --upgrade             # move everything (a deliberate, reviewed change)
#
# It resolves with uv, whose own version is pinned (and hash-checked) in
# tools/lock/uv.txt, for Python 3.11 on any platform (--universal), from
# pyproject.toml's ranges with the dev extra and the build tools (build.in) into
# requirements.txt; the build tools alone, at the same versions, into build.txt
# (set-up installs them first); the benchmark peer without its declared
# dependencies into bench-peer.txt.
# After a refresh: bash tools/setup.sh && bash tools/test.sh, then commit the
# changed tools/lock/*.txt with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

tool=build/lock-tool
if [ ! -x "$tool/bin/uv" ] || ! cmp -s tools/lock/uv.txt "$tool/uv.txt"; then
    rm -rf "$tool"
    python3 -m venv "$tool"
    "$tool/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r tools/lock/uv.txt
    cp tools/lock/uv.txt "$tool/uv.txt"
fi
uv=("$tool/bin/uv" pip compile --quiet --generate-hashes --universal --python-version 3.11
    --no-header --custom-compile-command "bash tools/lock.sh" "$@")

"${uv[@]}" pyproject.toml tools/lock/build.in --extra dev -o tools/lock/requirements.txt
"${uv[@]}" tools/lock/build.in -c tools/lock/requirements.txt -o tools/lock/build.txt
"${uv[@]}" --no-deps tools/lock/bench-peer.in -o tools/lock/bench-peer.txt
"${uv[@]}" --no-deps tools/lock/uv.in -o tools/lock/uv.txt
echo "lock: $(grep -c '^[a-z0-9]' tools/lock/requirements.txt) packages in requirements.txt," \
     "$(grep -c '^[a-z0-9]' tools/lock/bench-peer.txt) in bench-peer.txt (uv $("$tool/bin/uv" --version | cut -d' ' -f2))"
