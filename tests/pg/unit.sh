#!/bin/sh
# The backend-generic suite and the rules suites on a private PostgreSQL.
set -eu
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/pg/lib.sh"
pg_start
LK_TEST_PG_CONNINFO=$PG_CONNINFO
export LK_TEST_PG_CONNINFO
B=${LK_BUILDDIR:-.}
"$B/tests/unit/test_backend"
echo "# the same with the record cache on (store.cache_entries)"
LK_TEST_PG_CACHE=1000 "$B/tests/unit/test_backend"
"$B/tests/unit/test_rules"
"$B/tests/unit/test_lifecycle"
"$B/tests/unit/test_authz"
