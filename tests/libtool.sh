# tests/libtool.sh — sourced by the test libraries (tests/e2e/lib.sh,
# tests/reliability/lib.sh, tests/plugins/common.sh) after LK_BUILDDIR (and
# LATCHKEY, when another program stands in) is set.
#
# libtool puts a bash wrapper script at ./latchkey, ./latchkeyd and the other
# programs that link the uninstalled liblatchkey; it sets LD_LIBRARY_PATH and
# execs .libs/NAME. Starting that bash costs 4x the program's own run (0.16 s
# against 0.03 s on a loaded 2-core guest), and the suite runs latchkey
# thousands of times: the tests run the program behind the wrapper, with the
# LD_LIBRARY_PATH the wrapper would have set.
export LD_LIBRARY_PATH="$LK_BUILDDIR/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# lk_direct PATH: the program behind PATH when PATH is libtool's wrapper of a
# program that needs no relinking (program='NAME' in the wrapper), else PATH
# itself (an installed binary, or a stand-in such as tests/ci/valgrind.sh's).
lk_direct() {
    case $1 in */*) _lkd_dir=${1%/*} ;; *) _lkd_dir=. ;; esac
    _lkd_name=${1##*/}
    if [ -x "$_lkd_dir/.libs/$_lkd_name" ] && grep -qs 'temporary wrapper script for' "$1" &&
        grep -qs "^  program='$_lkd_name'\$" "$1"; then
        printf '%s\n' "$_lkd_dir/.libs/$_lkd_name"
    else
        printf '%s\n' "$1"
    fi
}

# LATCHKEY: the program behind the build's wrapper; LK_OWN_BUILD=1 when it is
# the build's own latchkey, not a stand-in (heap.sh, meta_stall.sh, remote.sh
# preload test modules into it).
LATCHKEY=${LATCHKEY:-$LK_BUILDDIR/latchkey}
[ "$LATCHKEY" = "$LK_BUILDDIR/latchkey" ] && LK_OWN_BUILD=1 || LK_OWN_BUILD=0
LATCHKEY=$(lk_direct "$LATCHKEY")
