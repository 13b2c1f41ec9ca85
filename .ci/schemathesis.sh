#!/usr/bin/env bash
# Installs schemathesis (the API fuzzer, from PyPI) into a venv under the user's cache dir and
# prints the path of its executable. Idempotent: a second run only prints the path.
# e2e/schemathesis.e2e.spec.ts looks for it there (or in $SCHEMATHESIS).
set -euo pipefail
VERSION=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/order-saga/schemathesis-$VERSION"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
fi
echo "$venv/bin/schemathesis"
