#!/bin/sh
# hostile.sh — bad input to the `latchkey` CLI (and through it the library),
# on both backends. Every case must end with a clear error (one
# `latchkey: Code: message` line, or the JSON error envelope), the expected
# non-zero exit status (never a signal or a timeout), no sanitizer report,
# no control character of the input echoed to the terminal, and the store
# unchanged: the same bytes (cksum) and the same records (crash_driver dump).
#
# Filesystem cases (read-only mount, full disk) need root and mount(8); they
# are skipped, with the reason printed, where that is not possible.
# HOSTILE_BACKENDS (default "lmdb flatfile").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "${LK_SRCDIR:-$(dirname "$0")/../..}/tests/reliability/lib.sh"

DRIVER=$RDIR/crash_driver
[ -x "$LATCHKEY" ] || fail "$LATCHKEY not built"
[ -x "$DRIVER" ] || fail "$DRIVER not built"
export LATCHKEY_CONFIG= # the tests always pass --config

CASES=0
FAILS=0
SKIPS=()
HAVE_PY=0
command -v python3 >/dev/null 2>&1 && HAVE_PY=1

bad() {
    echo "FAIL [$TESTNAME/$BACKEND] $CASE: $*" >&2
    echo "  command: ${SHOWN_CMD:0:300}" >&2
    echo "  exit: $RC" >&2
    echo "  stdout: $(head -c 600 "$WORK/out" | cat -v)" >&2
    echo "  stderr: $(head -c 600 "$WORK/err" | cat -v)" >&2
    FAILS=$((FAILS + 1))
}

# The state a case must not change.
SNAP_LOGICAL=0 # 1: records only (a failed LMDB commit may leave unreferenced pages)
snapshot() {
    local f
    [ "$SNAP_LOGICAL" = 1 ] || for f in "$STORE" "$@"; do
        if [ -e "$f" ]; then cksum <"$f"; else echo "absent $f"; fi
    done
    "$DRIVER" dump "$CFG" 2>/dev/null || echo "dump refused"
}

# try NAME CODES [options] -- CMD...: run CMD (stdin /dev/null unless
# --stdin FILE), expect an exit status among CODES ("2" or "2|3"), an error
# message, and no change to the store. Options: --stdin FILE, --json (error
# on stdout as JSON), --changes (the store may change: a verification with a
# known key id writes an access record), --secret S (must not be echoed),
# --no-message (only the exit status matters, e.g. stdout is /dev/full),
# --ok-may-change (a successful run may change the store; a failed one not).
try() {
    CASE=$1 CODES=$2
    shift 2
    local stdin=/dev/null json=0 changes=0 secret= message=1 okchange=0
    while [ "$1" != -- ]; do
        case $1 in
        --stdin) stdin=$2; shift ;;
        --json) json=1 ;;
        --changes) changes=1 ;;
        --secret) secret=$2; shift ;;
        --no-message) message=0 ;;
        --ok-may-change) okchange=1 ;;
        *) fail "try: bad option $1" ;;
        esac
        shift
    done
    shift
    [ "$1" != lk ] || { shift; set -- "$LATCHKEY" --config "$CFG" "$@"; }
    CASES=$((CASES + 1))
    SHOWN_CMD="$*"
    local before after
    before=$(snapshot)
    RC=0
    timeout 30 "$@" <"$stdin" >"$WORK/out" 2>"$WORK/err" || RC=$?
    after=$(snapshot)
    case "|$CODES|" in
    *"|$RC|"*) ;;
    *)
        bad "exit status $RC, expected $CODES"
        return
        ;;
    esac
    if grep -aqE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|core dumped|==[0-9]+==' "$WORK/err"; then
        bad "sanitizer or crash report on stderr"
        return
    fi
    [ "$RC" != 0 ] || [ "$okchange" = 0 ] || changes=1
    if [ "$message" = 1 ] && [ "$RC" != 0 ]; then
        if [ "$json" = 1 ]; then
            grep -aqE '^\{"Response":\{"Error":\{"Code":"[A-Za-z.]+","Message":"[^"]' "$WORK/out" ||
                { bad "no JSON error envelope on stdout"; return; }
            if [ "$HAVE_PY" = 1 ] && ! python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' \
                "$WORK/out" 2>/dev/null; then
                bad "the JSON error is not valid JSON (UTF-8)"
                return
            fi
        else
            grep -aqE '^latchkey: [A-Za-z.]+: .' "$WORK/err" || { bad "no 'latchkey: Code: message' line"; return; }
        fi
    fi
    # raw control characters of hostile input must not reach the terminal
    if LC_ALL=C grep -aq "$(printf '[\001-\010\013-\037\177]')" "$WORK/err" "$WORK/out"; then
        bad "a control character reached the output"
        return
    fi
    if [ -n "$secret" ] && grep -aqF -e "$secret" "$WORK/err" "$WORK/out"; then
        bad "the secret was echoed"
        return
    fi
    if [ "$changes" = 0 ] && [ "$before" != "$after" ]; then
        bad "the store changed"
        return
    fi
}

lk() { "$LATCHKEY" --config "$CFG" "$@"; }

# A fresh store with user 100 (root), 101 (sub-user of 100), an access key
# (SID/SK) and an API key with an allowlist (AKID/AK).
new_store() {
    BACKEND=$1
    DIR=${2:-$(mktemp -d "$WORK/$1.XXXXXX")}
    CFG=${3:-$DIR/latchkey.yaml}
    STORE=$(store_file "$BACKEND" "$DIR")
    write_config "$CFG" "$BACKEND" "$STORE"
    lk init >/dev/null || fail "$BACKEND: init"
    lk user add 100 >/dev/null || fail "$BACKEND: user add"
    lk user add 101 --kind sub-user --root 100 >/dev/null || fail "$BACKEND: user add sub"
    local out
    out=$(lk --json key create 100) || fail "$BACKEND: key create"
    SID=$(printf '%s' "$out" | sed -n 's/.*"AccessKeyId":"\([^"]*\)".*/\1/p')
    SK=$(printf '%s' "$out" | sed -n 's/.*"SecretAccessKey":"\([^"]*\)".*/\1/p')
    out=$(lk --json apikey create 100 --name main --allow-ip 10.0.0.0/8 --scope cvm) || fail "$BACKEND: apikey create"
    AKID=$(printf '%s' "$out" | sed -n 's/.*"KeyId":"\([^"]*\)".*/\1/p')
    AK=$(printf '%s' "$out" | sed -n 's/.*"ApiKey":"\([^"]*\)".*/\1/p')
    [ ${#SID} = 36 ] && [ ${#SK} = 46 ] && [ ${#AKID} = 15 ] && [ ${#AK} = 57 ] || fail "$BACKEND: setup parse ($out)"
    printf '%s\n' "$SK" >"$WORK/sk"
}

# rep CHAR N: CHAR repeated N times.
rep() { head -c "$2" /dev/zero | tr '\0' "$1"; }

KIB128=$(rep A 131000) # just below the kernel's 128 KiB limit for one argument
printf '%s' "$(rep A 1048576)" >"$WORK/mib"
{ rep A 1048576; echo; } >"$WORK/mib-nl"
IPS10K=$(for i in $(seq 0 9999); do printf '10.%d.%d.%d,' $((i / 65536)) $((i / 256 % 256)) $((i % 256)); done)
IPS10K=${IPS10K%,}
IPS51=$(for i in $(seq 1 51); do printf '192.0.2.%d,' "$i"; done)
IPS51=${IPS51%,}
SCOPE10K=$(for i in $(seq 1 10000); do printf 'svc%d,' "$i"; done)
SCOPE10K=${SCOPE10K%,}

can_mount() {
    [ "$(id -u)" = 0 ] || return 1
    local d
    d=$(mktemp -d "$WORK/mnt.XXXXXX")
    mount -t tmpfs -o size=64k tmpfs "$d" 2>/dev/null || return 1
    umount "$d"
    return 0
}
MOUNT_OK=0
can_mount && MOUNT_OK=1

# ------------------------------------------------------------ the cases

input_cases() {
    local u
    # numbers that are not UINs
    for u in -1 -9223372036854775808 0 9223372036854775808 18446744073709551615 18446744073709551616 \
        99999999999999999999999999999 1e3 0x10 ' 1' '1 ' +1 '' 'Ù¡Ù¢' $'1\n2' 00000000000000000000000000001x; do
        try "user add '$u'" 2 -- lk user add "$u"
        try "key create '$u'" 2 -- lk key create "$u"
        try "key list '$u'" 2 -- lk key list "$u"
        try "apikey create '$u'" 2 -- lk apikey create "$u" --name x
    done
    try "sub-user of a negative root" 2 -- lk user add 200 --kind sub-user --root -5
    try "sub-user of a huge root" 2 -- lk user add 200 --kind sub-user --root 9223372036854775808
    try "key disable --uin -1" 2 -- lk key disable "$SID" --uin -1
    try "largest UIN that is not a user" 1 -- lk key create 9223372036854775807

    # overlong arguments and stdin
    try "key show 128 KiB id" 2 -- lk key show "$KIB128"
    try "records 128 KiB id" 2 -- lk records "$KIB128"
    try "apikey show 128 KiB id" 2 -- lk apikey show "$KIB128"
    try "verify 128 KiB SecretId" 3 --stdin "$WORK/sk" --secret "$SK" -- lk verify "AKID$KIB128"
    try "verify 1 MiB SecretKey on stdin" 2 --stdin "$WORK/mib" -- lk verify "$SID"
    try "verify 1 MiB SecretKey line" 2 --stdin "$WORK/mib-nl" -- lk verify "$SID"
    try "verify --apikey 1 MiB on stdin" 2 --stdin "$WORK/mib-nl" -- lk verify --apikey
    try "verify --json 1 MiB" 2 --json --stdin "$WORK/mib-nl" -- lk --json verify "$SID"
    try "apikey create 128 KiB name" 2 -- lk apikey create 100 --name "$KIB128"
    try "apikey create 65-byte name" 2 -- lk apikey create 100 --name "$(rep n 65)"
    try "apikey create 128 KiB description" 2 -- lk apikey create 100 --name d --description "$KIB128"
    try "apikey create 257-byte description" 2 -- lk apikey create 100 --name d --description "$(rep d 257)"
    try "apikey show --name 128 KiB" 2 -- lk apikey show --account 100 --name "$KIB128"
    try "apikey create 10,000 allowlist entries" 2 -- lk apikey create 100 --name ips --allow-ip "$IPS10K"
    try "apikey create 51 allowlist entries" 2 -- lk apikey create 100 --name ips --allow-ip "$IPS51"
    try "apikey edit 10,000 allowlist entries" 2 -- lk apikey edit "$AKID" --allow-ip "$IPS10K"
    try "apikey create 128 KiB allowlist entry" 2 -- lk apikey create 100 --name ip1 --allow-ip "$KIB128"
    try "apikey create 10,000 scope entries" 2 -- lk apikey create 100 --name sc --scope "$SCOPE10K"
    try "apikey create empty allowlist entry" 2 -- lk apikey create 100 --name ip2 --allow-ip "10.0.0.1,,10.0.0.2"
    try "apikey create allowlist with host bits" 2 -- lk apikey create 100 --name ip3 --allow-ip "10.0.0.1/8"
    try "apikey create allowlist junk" 2 -- lk apikey create 100 --name ip4 --allow-ip $'10.0.0.1\n'
    # a malformed --ip or --service is a usage error, found before the secret is read: nothing recorded
    try "verify --apikey 128 KiB --ip" 2 --stdin <(printf '%s\n' "$AK") --secret "$AK" -- \
        lk verify --apikey --ip "$KIB128" --service cvm
    try "verify --apikey 128 KiB --service" 2 --stdin <(printf '%s\n' "$AK") --secret "$AK" -- \
        lk verify --apikey --ip 10.1.1.1 --service "$KIB128"
    try "--config 128 KiB path" 4 -- "$LATCHKEY" --config "/$KIB128" user list

    # NUL bytes and near misses: never cut at a NUL and accepted. A malformed
    # SecretKey for a known SecretId is recorded as an attempt (--changes).
    printf '%s\0\n' "$SK" >"$WORK/sk-nul"
    try "verify SecretKey + NUL" 3 --changes --stdin "$WORK/sk-nul" --secret "$SK" -- lk verify "$SID"
    printf '%s\0junk\n' "$SK" >"$WORK/sk-nul2"
    try "verify SecretKey + NUL + junk" 3 --changes --stdin "$WORK/sk-nul2" --secret "$SK" -- lk verify "$SID"
    printf 'LKSK\0%s\n' "${SK:5}" >"$WORK/sk-nul3"
    try "verify NUL inside SecretKey" 3 --changes --stdin "$WORK/sk-nul3" -- lk verify "$SID"
    printf '%s \n' "$SK" >"$WORK/sk-sp"
    try "verify SecretKey + space" 3 --changes --stdin "$WORK/sk-sp" --secret "$SK" -- lk verify "$SID"
    printf '%s\0\n' "$AK" >"$WORK/ak-nul"
    try "verify --apikey + NUL" 3 --stdin "$WORK/ak-nul" --secret "$AK" -- lk verify --apikey --ip 10.0.0.1
    printf '\n' >"$WORK/empty-line"
    try "verify empty secret" 3 --changes --stdin "$WORK/empty-line" -- lk verify "$SID"
    try "verify no stdin at all" 3 --changes -- lk verify "$SID"
    try "verify with stdin closed" '3|5' --changes -- bash -c 'exec 0<&-; "$@"' _ "$LATCHKEY" --config "$CFG" verify "$SID"
    try "verify two SecretIds" 2 --stdin "$WORK/sk" -- lk verify "$SID" "$SK"

    # invalid UTF-8, control characters, terminal escapes
    local t
    for t in $'\xff' $'\xc0\xaf' $'\xed\xa0\x80' $'\xf4\x90\x80\x80' $'\xe2\x82' $'a\x01b' $'\x1b[2J\x1b]0;pwned\x07' \
        $'a\x7fb' $'tab\there' $'line\nbreak'; do
        try "apikey create name $(printf '%q' "$t")" 2 -- lk apikey create 100 --name "$t"
        try "apikey create description $(printf '%q' "$t")" 2 -- lk apikey create 100 --name ok --description "$t"
        try "apikey edit description $(printf '%q' "$t")" 2 -- lk apikey edit "$AKID" --description "$t"
        try "--json apikey create name $(printf '%q' "$t")" 2 --json -- lk --json apikey create 100 --name "$t"
        try "key show $(printf '%q' "$t")" 2 -- lk key show "AKID$t"
        try "--json key show $(printf '%q' "$t")" 2 --json -- lk --json key show "$t"
        try "apikey show --name $(printf '%q' "$t")" '1|2' -- lk apikey show --account 100 --name "$t"
    done
    try "unknown command with escape" 2 -- lk $'\x1b[31mred'
    try "unknown option with escape" 2 -- lk user list $'--\x1b[31m'

    # output that cannot be written
    if [ -w /dev/full ]; then
        try "user list > /dev/full" 5 --no-message -- bash -c '"$@" >/dev/full' _ "$LATCHKEY" --config "$CFG" user list
    fi
}

config_cases() {
    local d=$WORK/config-$BACKEND
    mkdir -p "$d"
    try "config is a directory" 4 -- "$LATCHKEY" --config "$d" user list
    try "config is missing" 4 -- "$LATCHKEY" --config "$d/none.yaml" user list
    try "config is /dev/zero" 4 -- "$LATCHKEY" --config /dev/zero user list
    mkfifo "$d/fifo"
    try "config is a FIFO (must not hang)" 4 -- "$LATCHKEY" --config "$d/fifo" user list
    ln -s loop1 "$d/loop2" && ln -s loop2 "$d/loop1"
    try "config is a symlink loop" 4 -- "$LATCHKEY" --config "$d/loop1" user list
    head -c 2097152 /dev/zero | tr '\0' '#' >"$d/big.yaml"
    try "config of 2 MiB" 4 -- "$LATCHKEY" --config "$d/big.yaml" user list
    printf 'store:\n  backend: %s\n  path: %s\0\n' "$BACKEND" "$STORE" >"$d/nul.yaml"
    try "config with a NUL byte" 4 -- "$LATCHKEY" --config "$d/nul.yaml" user list
    rep '[' 100000 >"$d/deep.yaml"
    try "config nested 100,000 deep" 4 -- "$LATCHKEY" --config "$d/deep.yaml" user list
    printf 'store:\n  backend: %s\n  path: ""\n' "$BACKEND" >"$d/emptypath.yaml"
    try "config with an empty store.path" 4 -- "$LATCHKEY" --config "$d/emptypath.yaml" user list
    printf 'store:\n  backend: %s\n  path: %s\n' "$BACKEND" "$d" >"$d/dirpath.yaml"
    try "store.path is a directory" 5 -- "$LATCHKEY" --config "$d/dirpath.yaml" user list
    printf 'store:\n  backend: %s\n  path: %s/no/such/dir/store\n' "$BACKEND" "$d" >"$d/nodir.yaml"
    try "store directory missing" 5 -- "$LATCHKEY" --config "$d/nodir.yaml" user add 5
    [ ! -e "$d/no" ] || bad "a missing store directory was created"
    printf 'hash: {opslimit: 1, memlimit_kib: 99999999999}\nlimits: {keys_per_user: -1}\n' >"$d/range.yaml"
    try "config values out of range" 4 -- "$LATCHKEY" --config "$d/range.yaml" user list
    : >"$d/empty.yaml"
    # the build's default store directory (make check sets LK_STATEDIR)
    local sd=${LK_STATEDIR:-/var/lib/latchkey}
    if [ -e "$sd" ]; then
        SKIPS+=("empty config: $sd exists here, so the default store could be touched")
    else
        try "empty config (default store, whose directory is missing)" 5 -- "$LATCHKEY" --config "$d/empty.yaml" \
            user add 5
        [ ! -e "$sd" ] || bad "the default store directory was created"
    fi
}

# Store files that must be refused, untouched.
store_cases() {
    local d
    # another user's store: root manages it in place and leaves it that
    # user's (latchkeyd's store, owned by its service user); any other user
    # is refused it (tests/unit/test_backend, as uid 4243). World- and
    # group-writable stores are refused to everyone.
    if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
        new_store "$BACKEND"
        chown nobody "$STORE"
        "$LATCHKEY" --config "$CFG" user add 4242 >/dev/null 2>&1 || bad "root could not manage the store of user nobody"
        [ "$(stat -c %U "$STORE")" = nobody ] || bad "root's change took the store from user nobody"
        for f in "$STORE-lock" "$STORE.lock"; do
            [ ! -e "$f" ] || [ "$(stat -c %U "$f")" = nobody ] || bad "root's change left $f owned by $(stat -c %U "$f")"
        done
    else
        SKIPS+=("store owned by another user: needs root and a 'nobody' user")
    fi
    new_store "$BACKEND"
    chmod 666 "$STORE"
    try "world-writable store: list" 5 -- lk user list
    try "world-writable store: create" 5 -- lk key create 100
    chmod 620 "$STORE"
    try "group-writable store: verify" 5 --stdin "$WORK/sk" --secret "$SK" -- lk verify "$SID"
    chmod 600 "$STORE"

    # a store path that is a symlink to something that is not a store
    new_store "$BACKEND"
    d=$DIR
    head -c 8192 /dev/urandom >"$d/decoy"
    chmod 600 "$d/decoy"
    rm -f "$STORE" "$STORE-lock"
    ln -s decoy "$STORE"
    try "store is a symlink to junk: list" 5 -- lk user list
    try "store is a symlink to junk: create" 5 -- lk key create 100
    # truncated stores: cut to 100 bytes, and to half its size (whole 4 KiB
    # pages for LMDB, whose pages past the end would fault when mapped).
    # The writers replace or extend the file whole, so a store cut short is
    # damage (a copy that ran out of space, a bad restore) and must be
    # refused, not read as if the lost records had never existed.
    local cut size
    for cut in 100 half; do
        new_store "$BACKEND"
        for i in $(seq 1 40); do lk user add $((1000 + i)) >/dev/null || fail "setup: user add"; done
        size=$(stat -c %s "$STORE")
        [ "$cut" != half ] || cut=$((size / 2 / 4096 * 4096))
        [ "$BACKEND" != flatfile ] || [ "$cut" -lt 4096 ] || cut=$((cut + 7)) # mid-line
        head -c "$cut" "$STORE" >"$STORE.cut" && cat "$STORE.cut" >"$STORE" && rm -f "$STORE.cut"
        try "store cut to $cut of $size bytes: user list" 5 -- lk user list
        try "store cut to $cut of $size bytes: user add" 5 -- lk user add 5
        try "store cut to $cut of $size bytes: verify" 5 --stdin "$WORK/sk" --secret "$SK" -- lk verify "$SID"
    done
    new_store "$BACKEND"
    head -c 4096 /dev/urandom >"$STORE"
    try "garbage store: user list" 5 -- lk user list
    try "garbage store: user add" 5 -- lk user add 5
}

readonly_case() {
    if [ "$MOUNT_OK" != 1 ]; then
        SKIPS+=("read-only filesystem: cannot mount a tmpfs here (needs root and mount permission)")
        return
    fi
    local m
    m=$(mktemp -d "$WORK/ro.XXXXXX")
    mount -t tmpfs -o size=4m,mode=0700 tmpfs "$m" || { SKIPS+=("read-only filesystem: mount failed"); return; }
    CLEANUP_HOOKS+=("umount '$m' 2>/dev/null")
    new_store "$BACKEND" "$m"
    mount -o remount,ro "$m" || { SKIPS+=("read-only filesystem: remount ro failed"); umount "$m"; return; }
    try "read-only fs: key create" 5 -- lk key create 100
    try "read-only fs: key disable" 5 -- lk key disable "$SID"
    try "read-only fs: apikey create" 5 -- lk apikey create 100 --name ro
    try "read-only fs: user add" 5 -- lk user add 300
    # a verifier (PAM, Mosquitto) must keep working on a read-only store:
    # the store opens for reading; verification and listings work, unchanged
    printf '%s\n' "$SK" >"$WORK/ro-secret"
    try "read-only fs: verify" 0 --stdin "$WORK/ro-secret" -- lk verify "$SID"
    try "read-only fs: key list" 0 -- lk key list 100
    grep -q "^$SID " "$WORK/out" || { CASE="read-only fs: key list"; bad "the key is not listed"; }
    try "read-only fs: wrong secret" 3 -- lk verify "$SID"
    RO_READS="reads and verification work"
    note "read-only filesystem: writes refused; $RO_READS"
    umount "$m"
}

fulldisk_case() {
    if [ "$MOUNT_OK" != 1 ]; then
        SKIPS+=("full disk: cannot mount a small tmpfs here (needs root and mount permission)")
        return
    fi
    local m
    m=$(mktemp -d "$WORK/full.XXXXXX")
    mount -t tmpfs -o size=1m,mode=0700 tmpfs "$m" || { SKIPS+=("full disk: mount failed"); return; }
    CLEANUP_HOOKS+=("umount '$m' 2>/dev/null")
    new_store "$BACKEND" "$m" "$WORK/full-$BACKEND.yaml"
    local sk2
    sk2=$(lk --json key create 100 | sed -n 's/.*"SecretAccessKey":"\([^"]*\)".*/\1/p')
    printf '%s\n' "$sk2" >"$WORK/sk2"
    # fill every last block, then add users until the store cannot take
    # more (LMDB first reuses the free pages already in its file)
    dd if=/dev/zero of="$m/filler" bs=4k 2>/dev/null
    dd if=/dev/zero of="$m/filler2" bs=512 2>/dev/null
    local i=0 rc=0
    while [ $i -lt 5000 ]; do
        "$LATCHKEY" --config "$CFG" user add $((5000 + i)) >/dev/null 2>"$WORK/err" || { rc=$?; break; }
        i=$((i + 1))
    done
    note "full disk: $i users fitted before the store filled up"
    CASE="full disk: the write that did not fit"
    [ "$rc" = 5 ] || bad "exit $rc ($(head -c 300 "$WORK/err"))"
    [ "$BACKEND" != lmdb ] || SNAP_LOGICAL=1
    try "full disk: user add" 5 -- lk user add 4999
    grep -aq 'StoreFull' "$WORK/err" || bad "not reported as FailedOperation.StoreFull"
    try "full disk: apikey create" 5 -- lk apikey create 100 --name full --description "$(rep x 250)" \
        --allow-ip 10.0.0.0/8,192.0.2.0/24 --scope cvm,cos
    grep -aq 'StoreFull' "$WORK/err" || bad "not reported as FailedOperation.StoreFull"
    try "full disk: key create" '0|1|5' --ok-may-change -- lk key create 100
    try "full disk: apikey edit" '0|5' --ok-may-change -- lk apikey edit "$AKID" --description "$(rep y 250)"
    SNAP_LOGICAL=0
    # still readable and verifiable while full
    CASE="full disk: reads still work"
    RC=0
    lk key list 100 >"$WORK/out" 2>"$WORK/err" || RC=$?
    [ "$RC" = 0 ] && grep -q "$SID" "$WORK/out" || bad "the store cannot be read while the disk is full"
    RC=0
    lk verify "$SID" <"$WORK/sk" >"$WORK/out" 2>"$WORK/err" || RC=$?
    [ "$RC" = 0 ] || bad "a right key does not verify while the disk is full"
    # a denial names its own reason, also when its access record cannot be
    # written (the failed flush must not replace the message)
    CASE="full disk: a denial keeps its message"
    RC=0
    lk verify "$SID" <"$WORK/sk2" >"$WORK/out" 2>"$WORK/err" || RC=$?
    [ "$RC" = 3 ] && grep -q '^latchkey: AuthFailure.SignatureFailure: wrong SecretKey' "$WORK/err" ||
        bad "expected exit 3 and 'wrong SecretKey'"
    # and writable again once there is room
    rm -f "$m/filler" "$m/filler2"
    CASE="full disk: recovers once space is freed"
    RC=0
    lk user add 4999 >"$WORK/out" 2>"$WORK/err" || RC=$?
    [ "$RC" = 0 ] || bad "cannot write after space was freed"
    [ -z "$(ls "$m" | grep -v -e '^store' -e '^latchkey' || :)" ] || note "left in the store dir: $(ls "$m")"
    umount "$m"
}

# ------------------------------------------------------------ run

for b in ${HOSTILE_BACKENDS:-lmdb flatfile}; do
    new_store "$b"
    MAIN_STORE=$STORE MAIN_CFG=$CFG
    input_cases
    config_cases
    store_cases
    readonly_case
    fulldisk_case
    note "$b: done"
done

for s in "${SKIPS[@]}"; do note "skipped: $s"; done
note "$CASES hostile inputs tried, $FAILS failed"
[ "$FAILS" = 0 ] || exit 1
exit 0
