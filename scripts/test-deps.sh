#!/usr/bin/env bash
# Debian packages the test suite needs beyond pip: PostgreSQL, for the store tests that run against
# both SQLite and a real PostgreSQL server (started by the tests themselves, in a temporary folder),
# Chromium, for the web studio's browser tests (driven by Playwright), and iproute2 (ip, tc), for
# the community pool's test on several hosts (tests/test_netns_pool.py: network namespaces, as root),
# and Node.js with npm, for axe-core (tests/js, injected into the studio by tests/test_web_axe.py).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v ip && command -v tc; } >/dev/null 2>&1 || missing+=(iproute2)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The pinned axe-core (tests/js/package-lock.json), into tests/js/node_modules.
npm ci --prefix "$(dirname "$0")/../tests/js" --no-audit --no-fund --loglevel=error
