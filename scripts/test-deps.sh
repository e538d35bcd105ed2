#!/usr/bin/env bash
# Debian packages the test suite needs beyond pip: PostgreSQL, for the store tests that run against
# both SQLite and a real PostgreSQL server (started by the tests themselves, in a temporary folder).
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
