#!/bin/sh
# tests/daemon/manage.sh on PostgreSQL: the management API with two latchkeyd
# on one store (a key created through one works at the other). bash: the
# script gives curl its config on stdin and uses /dev/tcp. Skipped where
# latchkeyd has no HTTP. A test of its own, apart from tests/pg/e2e.sh, so
# that make -j runs the two side by side.
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "${LK_HAVE_HTTP:-yes}" = yes ] || { echo "SKIP: latchkeyd is built without HTTP"; exit 77; }
. "$S/tests/pg/lib.sh"
pg_start
export PG_DIR PG_PORT PG_BIN LK_SRCDIR="$S"
LK_E2E_BACKENDS=postgresql bash -c '. "$LK_SRCDIR/tests/pg/lib.sh"; . "$0"' "$S/tests/daemon/manage.sh"
