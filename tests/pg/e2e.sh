#!/bin/sh
# The end-to-end CLI scripts whose checks do not read store files, on
# PostgreSQL (each store a new database of one private cluster);
# tests/pg/manage.sh runs the management API's test there.
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$S/tests/pg/lib.sh"
pg_start
export PG_DIR PG_PORT PG_BIN LK_SRCDIR="$S"
for t in lifecycle limits apikeys records verify_input badinput keylife selfservice rotation scan output import; do
    echo "# e2e/$t on postgresql"
    # a fresh shell per script: each sources tests/e2e/lib.sh itself
    LK_E2E_BACKENDS=postgresql sh -c '. "$LK_SRCDIR/tests/pg/lib.sh"; . "$0"' "$S/tests/e2e/$t.sh" ||
        { echo "FAIL: e2e/$t on postgresql"; exit 1; }
done
