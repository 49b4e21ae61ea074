#!/usr/bin/env bash
# Install what the tests need from Debian's packages, where it is missing:
# - PostgreSQL's server (shared-study tests; started per test run by postgres-test-server.sh on
#   loopback);
# - Graphviz's `dot` (what `nasblocks viz` draws with; the picture tests render through it).
# Needs root or sudo the first time; does nothing once the binaries are there.
set -euo pipefail
missing=()
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
    missing+=(postgresql)
fi
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
(( ${#missing[@]} )) || exit 0
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "installing ${missing[*]} (Debian packages) for the tests"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
