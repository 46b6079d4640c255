#!/bin/sh
# symbols.sh — the Debian symbols file lists exactly the library's exported
# lk_ API. dpkg-buildpackage fails on any difference, but only in CI's
# package stage, 20 minutes in: this says so in make check.
: "${LK_BUILDDIR:?}" "${LK_SRCDIR:?}"
LIB=$LK_BUILDDIR/.libs/liblatchkey.so
SYMS=$LK_SRCDIR/debian/liblatchkey0.symbols
[ -f "$SYMS" ] || { echo "SKIP: no debian/ in this tree"; exit 77; }
[ -f "$LIB" ] || { echo "ERROR: $LIB not built"; exit 99; }
exported=$(nm -D --defined-only "$LIB" | awk '$2 == "T" {print $3}' | sort)
listed=$(sed -n 's/^ \(lk_[A-Za-z0-9_]*\)@Base .*/\1/p' "$SYMS" | sort)
if [ "$exported" = "$listed" ]; then
    echo "ok   debian/liblatchkey0.symbols lists the $(printf '%s\n' "$exported" | wc -l) exported symbols"
    exit 0
fi
echo "FAIL debian/liblatchkey0.symbols differs from the library's exports (< exported, > listed):"
printf '%s\n' "$exported" >"${TMPDIR:-/tmp}/lk-exp.$$"
printf '%s\n' "$listed" | diff "${TMPDIR:-/tmp}/lk-exp.$$" - 
rm -f "${TMPDIR:-/tmp}/lk-exp.$$"
exit 1
