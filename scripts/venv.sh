#!/usr/bin/env bash
# Create or refresh the project virtualenv (.venv) with the pinned tool chain.
# Re-running is cheap: pip runs only when requirements-dev.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements.sha256"
want=$(cat requirements-dev.txt app/requirements.txt | sha256sum | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
  echo "==> Creating the virtualenv in $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    echo "==> python3-venv is missing: installing it"
    # shellcheck source=scripts/apt.sh
    . scripts/apt.sh
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
fi

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> Installing the pinned tool chain (requirements-dev.txt)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
else
  echo "==> Virtualenv is up to date"
fi
