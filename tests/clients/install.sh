#!/usr/bin/env bash
# Installs the real client libraries the black-box tests drive (tests/it/client_libraries.rs):
# matrix-nio into a Python venv at ~/.cache/stoa-venv, and matrix-js-sdk (npm ci) into
# tests/clients/js/node_modules. Idempotent: each is skipped when already installed from the
# same pinned versions. Needs python3 with venv, and Node 20+ with npm.
set -euo pipefail
cd "$(dirname "$0")"

venv="$HOME/.cache/stoa-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s requirements.txt "$venv/.stoa-installed-requirements" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
    cp requirements.txt "$venv/.stoa-installed-requirements"
fi

# `npm ci` installs exactly the lock file; a copy of it in node_modules is the stamp.
if ! cmp -s js/package-lock.json js/node_modules/.stoa-installed-lock 2>/dev/null; then
    (cd js && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.stoa-installed-lock)
fi
