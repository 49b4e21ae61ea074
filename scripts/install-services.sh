#!/usr/bin/env bash
# Install the services the tests need, from Debian's packages, where they are missing:
# PostgreSQL's server (shared-study tests; started per test run by postgres-test-server.sh on
# loopback). Needs root or sudo the first time; does nothing once the binaries are there.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1; then
    exit 0
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "installing PostgreSQL (Debian package postgresql) for the shared-study tests"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
