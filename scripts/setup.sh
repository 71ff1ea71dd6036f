#!/usr/bin/env bash
# Sets up everything the project needs on a bare machine: uv, a virtualenv in .venv with this
# package and its dev/test tools, and Azurite (the Azure Blob emulator the tests use) in .tools/.
# Safe to run again: each step is skipped when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
AZURITE_VERSION="3.35.0"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm (Debian packages) for Azurite"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

if ! command -v curl >/dev/null 2>&1; then
  say "installing curl (Debian package) for the README's main command and its test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  say "installing docker-compose (Debian package) to validate docker-compose.yaml"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi

if ! command -v uv >/dev/null 2>&1 && ! "$PY" -m uv --version >/dev/null 2>&1; then
  say "installing uv"
  "$PY" -m pip install -q uv
fi
UV="uv"; command -v uv >/dev/null 2>&1 || UV="$PY -m uv"

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  $UV venv -q -p "$PY" .venv
fi
say "installing airflow-mlpipe (editable) with Airflow 3 and its providers"
$UV pip install -q -p .venv/bin/python -e ".[dev]"

if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
  say "installing Azurite $AZURITE_VERSION from npm into .tools/"
  npm install --silent --no-package-lock --no-audit --no-fund --prefix .tools "azurite@$AZURITE_VERSION" >/dev/null
fi
say "done: $(.venv/bin/airflow version 2>/dev/null | tail -1 | sed 's/^/Airflow /')"
