#!/bin/bash
# readme.sh — the documentation (README.md and its doc/ pages) cannot rot
# silently:
#   - doc/plugins.md's dlopen example is examples/readme_dlopen.c, byte for
#     byte, and that program (built by make check) verifies a pair through
#     the built module;
#   - every error code core/status.c or tools/ can print is in doc/admin.md's
#     error table.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/tests/docs/lib.sh"

PLUGINS_DOC=$LK_SRCDIR/doc/plugins.md
ADMIN_DOC=$LK_SRCDIR/doc/admin.md
EXAMPLE=$LK_SRCDIR/examples/readme_dlopen.c

# ---- 1. doc/plugins.md's C block is the example file
# The block opens with the line naming the file; it ends at the next fence.
block=$(awk '/^```c$/ { getline l; if (l ~ /^\/\* readme_dlopen\.c:/) { on = 1; print l; next } }
             on && /^```$/ { exit }
             on { print }' "$PLUGINS_DOC")
check "doc/plugins.md has the readme_dlopen.c block" yes "$([ -n "$block" ] && echo yes || echo no)"
check "doc/plugins.md block == examples/readme_dlopen.c" "" "$(diff <(printf '%s\n' "$block") "$EXAMPLE")"

# ---- 2. the program runs against the built module
MOD=$LK_BUILDDIR/.libs/latchkey_plugin.so
PROG=$LK_BUILDDIR/examples/readme_dlopen
[ -f "$MOD" ] || die "$MOD not built"
[ -x "$PROG" ] || die "$PROG not built"
need_cli
write_config
init_store
new_user 100001
new_key 100001
out=$(printf '%s\n' "$KEY_SECRET" | "$PROG" "$KEY_ID" "$MOD" "$CONF" 2>&1)
check "readme_dlopen: right secret" "0|Success uin=100001" "$?|$out"
out=$(printf '%s\n' "$(wrong_last "$KEY_SECRET")" | "$PROG" "$KEY_ID" "$MOD" "$CONF" 2>&1)
check "readme_dlopen: wrong secret" "1|AuthFailure.SignatureFailure uin=0" "$?|$out"
out=$(printf 'x\n' | "$PROG" "$KEY_ID" "$TMP/nonexistent.so" "$CONF" 2>/dev/null)
check "readme_dlopen: missing module fails, prints nothing" "2|" "$?|$out"

# ---- 3. every printable error code is in doc/admin.md's table
# The table: rows "| `Code` | when |" after the "Error codes" heading (any level).
table=$(awk '/^#+ Error codes/ { on = 1; next } on && /^#/ { exit } on' "$ADMIN_DOC" |
    sed -n 's/^| `\([A-Za-z.]*\)` |.*/\1/p' | sort -u)
check "doc/admin.md error table found" yes "$([ -n "$table" ] && echo yes || echo no)"
codes=$(printable_codes)
check "found the codes in core/status.c and tools/" yes \
    "$(printf '%s\n' "$codes" | grep -qx FailedOperation.ConfigExists && [ "$(printf '%s\n' "$codes" | wc -l)" -ge 20 ] && echo yes || echo no)"
missing=$(comm -23 <(printf '%s\n' "$codes") <(printf '%s\n' "$table") | paste -sd' ')
check "every error code is in doc/admin.md's table" "" "$missing"

finish
