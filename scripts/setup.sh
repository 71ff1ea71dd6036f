#!/usr/bin/env bash
# Sets up everything the project needs on a bare machine: uv, a virtualenv in .venv with this
# package and its dev/test tools, Azurite (the Azure Blob emulator the tests use) in .tools/, the
# tracking pages' build (ui/ -> airflow_mlpipe/plugin/static) and Debian's chromium for their
# browser tests, and for
# Docker steps Debian's docker.io engine plus a Debian rootfs with Python (.tools/python-base.tar).
# Safe to run again: each step is skipped when it is already done.
# `setup.sh python-base` runs only the rootfs step (tests/docker_engine.py calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
AZURITE_VERSION="3.35.0"
PYTHON_BASE_TAR="${PYTHON_BASE_TAR:-.tools/python-base.tar}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Server packages (PostgreSQL, Redis) without starting their system services: the deployment and
# the tests start private servers of their own. A policy-rc.d that says "no" while apt runs.
apt_install_servers() {
  local policy=/usr/sbin/policy-rc.d own=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own=1
  fi
  apt_install "$@" || { [ -n "$own" ] && rm -f "$policy"; return 1; }
  if [ -n "$own" ]; then rm -f "$policy"; fi
}

# The Debian mirror this machine's apt already uses (so a local mirror or proxy is honoured);
# empty means debootstrap's own default. MLPIPE_DEBIAN_MIRROR overrides both.
debian_mirror() {
  if [ -n "${MLPIPE_DEBIAN_MIRROR:-}" ]; then echo "$MLPIPE_DEBIAN_MIRROR"; return; fi
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -nE 's/^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:\/\/[^[:space:]]*\/debian)\/?([[:space:]].*)?$/\3/p' \
    | head -1
}

# The default base image of step environments: Debian bookworm (minbase) with python3, venv, pip
# and CA certificates, as a rootfs tar. The tests `docker import` it into their own dockerd as
# mlpipe-python:3.11; on a worker, `docker import .tools/python-base.tar mlpipe-python:3.11`.
build_python_base() {
  [ -f "$PYTHON_BASE_TAR" ] && return 0
  command -v debootstrap >/dev/null 2>&1 || { say "installing debootstrap (Debian package)"; apt_install debootstrap; }
  say "building $PYTHON_BASE_TAR: a Debian rootfs with python3 (about 80 s)"
  local rootfs
  rootfs="$(mktemp -d)"
  # shellcheck disable=SC2046  # an empty mirror must be no argument at all
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" $(debian_mirror) >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  mkdir -p "$(dirname "$PYTHON_BASE_TAR")"
  tar -C "$rootfs" -c . >"$PYTHON_BASE_TAR.part"
  mv "$PYTHON_BASE_TAR.part" "$PYTHON_BASE_TAR"
  rm -rf "$rootfs"
}

if [ "${1:-}" = "python-base" ]; then
  build_python_base
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm (Debian packages) for Azurite"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (Debian package): the tracking pages' browser tests drive it with Playwright"
  apt_install chromium
fi

# The tracking pages (ui/: React + TypeScript, built by Vite) into airflow_mlpipe/plugin/static, the
# build output the wheel ships. Rebuilt when the bundle is missing or a source file changed (a hash
# of the sources is kept next to the build).
ui_sources_hash() {
  (cd ui && find src standalone public package.json package-lock.json tsconfig.json vite.config.ts \
    -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
UI_STAMP=airflow_mlpipe/plugin/static/.sources-sha256
if [ ! -f airflow_mlpipe/plugin/static/mlpipe-tracking.umd.js ] \
  || [ "$(cat "$UI_STAMP" 2>/dev/null)" != "$(ui_sources_hash)" ]; then
  say "building the tracking pages (npm ci && npm run build in ui/)"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || { say "Vite 7 needs Node.js >= 20.19 (found $(node --version)): install a newer Node.js"; exit 1; }
  (cd ui && npm ci --silent --no-audit --no-fund >/dev/null && npm run --silent build >/dev/null)
  ui_sources_hash >"$UI_STAMP"
fi

if ! command -v curl >/dev/null 2>&1; then
  say "installing curl (Debian package) for the README's main command and its test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  say "installing docker-compose (Debian package) to validate docker-compose.yaml"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io (Debian package): the Docker engine for steps that run in containers"
  apt_install docker.io
fi
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1; then
  say "installing docker-registry and apache2-utils (Debian packages): a password-protected registry for the tests"
  apt_install docker-registry apache2-utils
fi
if ! command -v mariadbd >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  say "installing postgresql and mariadb-server (Debian packages): the SQL datastores' test servers"
  apt_install_servers postgresql mariadb-server
fi
if ! command -v redis-server >/dev/null 2>&1; then
  say "installing redis-server (Debian package): the Celery broker of \`mlpipe up --executor celery\` and its tests"
  apt_install_servers redis-server
fi
if ! command -v ip >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1; then
  say "installing iproute2 and util-linux (Debian packages): the Celery tests' network and mount namespaces"
  apt_install iproute2 util-linux
fi
if ! pkg-config --exists mysqlclient 2>/dev/null; then
  say "installing default-libmysqlclient-dev and pkg-config (Debian packages): the MySQL provider builds mysqlclient"
  apt_install default-libmysqlclient-dev pkg-config build-essential
fi
if ! command -v java >/dev/null 2>&1; then
  say "installing a Java runtime (Debian package): the Databricks emulator runs notebooks with local Spark"
  apt_install openjdk-17-jre-headless
fi
build_python_base

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
