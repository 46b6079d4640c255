#!/bin/sh
# make bench's PostgreSQL part: a private cluster (tests/pg/lib.sh: initdb +
# pg_ctl in a temp dir, unix socket only, fsync off), then
# bench/latchkey-bench-pg. Skips (77), saying why, without PostgreSQL.
set -eu
S=${LK_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
B=${LK_BUILDDIR:-$S}
[ -x "$B/bench/latchkey-bench-pg" ] || { echo "SKIP [bench-pg]: built without the PostgreSQL backend"; exit 77; }
. "$S/tests/pg/lib.sh"
pg_start
SCALE=$(pg_new_db lk_scale)
FLUSH=$(pg_new_db lk_flush)
mkdir "$PG_DIR/work"
"$B/bench/latchkey-bench-pg" --conninfo "$PG_CONNINFO" --scale-conninfo "$SCALE" --flush-conninfo "$FLUSH" --dir "$PG_DIR/work" ${BENCH_PG_ARGS:-}
