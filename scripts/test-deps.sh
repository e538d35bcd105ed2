#!/usr/bin/env bash
# Debian packages the test suite needs beyond pip: PostgreSQL, for the store tests that run against
# both SQLite and a real PostgreSQL server (started by the tests themselves, in a temporary folder),
# Chromium, for the web studio's browser tests (driven by Playwright), and iproute2 (ip, tc), for
# the community pool's test on several hosts (tests/test_netns_pool.py: network namespaces, as root).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v ip && command -v tc; } >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
