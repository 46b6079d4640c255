# tests/plugins/common.sh — sourced by the plugin tests (bash).
# Sets up a scratch directory with a fast-hash config and helpers around the
# admin CLI. Never prints a secret except where a test deliberately feeds one
# to a host through stdin.

: "${LK_BUILDDIR:?LK_BUILDDIR must name the build directory}"
: "${LK_SRCDIR:?LK_SRCDIR must name the source directory}"
export TZ=UTC

# Modules link liblatchkey.so, which is not installed while testing: the
# LD_LIBRARY_PATH tests/libtool.sh sets serves them too.
. "$LK_SRCDIR/tests/libtool.sh"
LK=$(lk_direct "$LK_BUILDDIR/latchkey")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lk-plugins.XXXXXX") || exit 99
CONF=$TMP/latchkey.yaml
FAILS=0
CHECKS=0
CLEANUP_HOOKS=()

cleanup() {
    local h
    for h in "${CLEANUP_HOOKS[@]}"; do eval "$h"; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "ERROR: $*" >&2; exit 99; }

# check NAME EXPECTED ACTUAL
check() {
    CHECKS=$((CHECKS + 1))
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        echo "     expected: $(printf '%s' "$2" | tr '\n' '|')"
        echo "     actual:   $(printf '%s' "$3" | tr '\n' '|')"
        FAILS=$((FAILS + 1))
    fi
}

# check_match NAME REGEX ACTUAL (extended regex, whole text on one line)
check_match() {
    CHECKS=$((CHECKS + 1))
    local flat
    flat=$(printf '%s' "$3" | tr '\n' '|')
    if printf '%s' "$flat" | grep -Eq -- "$2"; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        echo "     expected to match: $2"
        echo "     actual: $flat"
        FAILS=$((FAILS + 1))
    fi
}

finish() {
    echo "$CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ] || exit 1
    exit 0
}

write_config() { # [CONFIG_PATH [STORE_PATH]]
    local conf=${1:-$CONF} store=${2:-$TMP/store.mdb}
    cat >"$conf" <<EOF
store: {backend: lmdb, path: $store}
hash: {opslimit: 1, memlimit_kib: 8}
EOF
    chmod 600 "$conf"
}

lk() { timeout 20 "$LK" --config "$CONF" "$@"; }

# wrong_last SECRET: the secret with its last character changed (never the
# same string: a fixed replacement would equal the last character 1 time in 62)
wrong_last() {
    local c=x
    [ "${1: -1}" = x ] && c=y
    printf '%s%s' "${1%?}" "$c"
}

# start_latchkeyd [DAEMON-YAML-LINES...]: latchkeyd on the store of $CONF,
# its socket in $TMP/lkd (traversable by other users: $TMP becomes 0711, so
# an unprivileged host reaches the socket but can list and read nothing).
# Sets LKD_SOCK; stopped at exit. lkd_stat NAME reads one of its counters.
start_latchkeyd() {
    local lkd=$LK_BUILDDIR/latchkeyd i line
    [ -x "$lkd" ] || die "$lkd not built"
    chmod 711 "$TMP"
    mkdir -p "$TMP/lkd"
    chmod 755 "$TMP/lkd"
    LKD_SOCK=$TMP/lkd/latchkeyd.sock
    {
        sed -n '/^store:/p; /^hash:/p' "$CONF"
        printf 'daemon:\n  socket: %s\n' "$LKD_SOCK"
        for line in "$@"; do printf '  %s\n' "$line"; done
    } >"$TMP/latchkeyd.yaml"
    chmod 600 "$TMP/latchkeyd.yaml"
    "$lkd" --config "$TMP/latchkeyd.yaml" 2>>"$TMP/latchkeyd.log" &
    LKD_PID=$!
    CLEANUP_HOOKS+=("kill $LKD_PID 2>/dev/null; wait $LKD_PID 2>/dev/null")
    for i in $(seq 1 100); do
        [ -S "$LKD_SOCK" ] && "$LK" --socket "$LKD_SOCK" stats >/dev/null 2>&1 && return 0
        kill -0 "$LKD_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$TMP/latchkeyd.log" >&2
    die "latchkeyd did not start"
}
lkd_stat() { "$LK" --socket "$LKD_SOCK" stats | sed -n "s/^$1 //p"; }

# init_store: create the store $CONF names (only `latchkey init` creates one).
init_store() {
    lk init >/dev/null || die "latchkey init failed"
}

# JSON field from the CLI's --json output (no jq on CI): json_field NAME < json
json_field() {
    tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

need_cli() {
    [ -x "$LK" ] || die "admin CLI $LK not built"
}

# new_user UIN [ARGS...]
new_user() {
    lk user add "$@" >/dev/null || die "latchkey user add $* failed"
}

# new_key UIN: sets KEY_ID and KEY_SECRET
new_key() {
    local out
    out=$(lk --json key create "$1") || die "latchkey key create $1 failed"
    KEY_ID=$(printf '%s' "$out" | json_field AccessKeyId)
    KEY_SECRET=$(printf '%s' "$out" | json_field SecretAccessKey)
    [ -n "$KEY_ID" ] && [ -n "$KEY_SECRET" ] || die "cannot parse key create output"
}

# new_apikey ROOT_UIN NAME [CLI ARGS...]: sets APIKEY_ID and APIKEY
new_apikey() {
    local root=$1 name=$2 out
    shift 2
    out=$(lk --json apikey create "$root" --name "$name" "$@") || die "latchkey apikey create failed"
    APIKEY_ID=$(printf '%s' "$out" | json_field KeyId)
    APIKEY=$(printf '%s' "$out" | json_field ApiKey)
    [ -n "$APIKEY_ID" ] && [ -n "$APIKEY" ] || die "cannot parse apikey create output"
}

# HTTP hosts (apache.sh, nginx.sh). Credentials go to curl through a config
# file on stdin, never argv.
# http_req URL [curl config lines...]: prints "STATUS BODY"
http_req() {
    local url=$1 out
    shift
    out=$( { printf '%s\n' "$@"; } | timeout 20 curl -s -K - -w ' %{http_code}' "$url" 2>/dev/null)
    printf '%s %s' "${out##* }" "${out% *}" | tr -d '\n'
}
# http_headers URL [curl config lines...]: the response headers
http_headers() {
    local url=$1
    shift
    { printf '%s\n' "$@"; } | timeout 20 curl -s -K - -o /dev/null -D - "$url" 2>/dev/null | tr -d '\r'
}
# free_port VAR: a port on 127.0.0.1 nothing answers on, from a per-run base
# below the kernel's ephemeral range (32768..), where clients' own ports
# would collide, so parallel runs rarely meet; callers retry a bind failure.
NEXT_PORT=$((10000 + ($$ * 7) % 20000))
free_port() {
    while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do NEXT_PORT=$((NEXT_PORT + 1)); done
    printf -v "$1" '%s' "$NEXT_PORT"
    NEXT_PORT=$((NEXT_PORT + 1))
}
# http_keys: a fresh store with the reverse-proxy tests' accounts and keys:
# uin 100 (login alice) with a pair (A_ID/A_SECRET) and the API keys AK
# (scope api, 127.0.0.1/32; AK_ID), AK_WEB (scope web), AK_FAR (scope api,
# 10.0.0.0/8) and AK_DIS (scope api; AK_DIS_ID), for the test to disable.
http_keys() {
    chmod 755 "$TMP"
    write_config
    init_store
    new_user 100 --login alice
    new_key 100
    A_ID=$KEY_ID
    A_SECRET=$KEY_SECRET
    new_apikey 100 api-local --scope api --allow-ip 127.0.0.1/32
    AK=$APIKEY
    AK_ID=$APIKEY_ID
    new_apikey 100 web-only --scope web
    AK_WEB=$APIKEY
    new_apikey 100 far-away --scope api --allow-ip 10.0.0.0/8
    AK_FAR=$APIKEY
    new_apikey 100 to-disable --scope api
    AK_DIS=$APIKEY
    AK_DIS_ID=$APIKEY_ID
}
# start_latchkeyd_http: latchkeyd with its HTTP endpoint on a free port
# (LKD_PORT, URL in LKD), 127.0.0.1 its trusted proxy, /api (a prefix
# without '/': it must still not cover /apifoo) and /web/ mapped to the
# services api and web; waits until /healthz answers.
start_latchkeyd_http() {
    free_port LKD_PORT
    start_latchkeyd "http:" "  listen: 127.0.0.1:$LKD_PORT" "  trusted_proxies: [127.0.0.1]" \
        "  service_map: [\"/api=api\", \"/web/=web\"]" "  threads: 2" "  timeout_s: 3"
    LKD=http://127.0.0.1:$LKD_PORT
    for _ in $(seq 50); do curl -s -o /dev/null "$LKD/healthz" && break; sleep 0.1; done
}
# check_parallel_burst: 40 clients at once on /api/x with fresh keys (an
# API key AK_BURST, and a pair of uin 200 B_ID/B_SECRET, whose Argon2id
# verifications queue up): 30 granted, 10 wrong refused. Needs the test's
# bearer PATH KEY and basic PATH USER PASSWORD.
check_parallel_burst() {
    local par
    new_apikey 100 burst --scope api
    AK_BURST=$APIKEY
    new_key 200
    B_ID=$KEY_ID
    B_SECRET=$KEY_SECRET
    par=$(for i in $(seq 40); do
        { if [ $((i % 4)) = 0 ]; then r=$(basic /api/x "$B_ID" "$(wrong_last "$B_SECRET")"); else r=$(bearer /api/x "$AK_BURST"); fi
          printf '%s\n' "${r%% *}"; } &
    done; wait)
    check "parallel: 30 granted, 10 wrong refused" "30 200|10 401|" \
        "$(printf '%s\n' "$par" | sort | uniq -c | sed 's/^ *//' | sort -k2 | tr '\n' '|')"
}
# check_dot_segments URL: a key scoped to web (AK_WEB) asks the proxy at URL
# for /api through dot-segments, sent as written (--path-as-is): the proxy
# routes them to /api, so latchkeyd must decide the service on that path
# and refuse, never reach the API: 401 outside the key's scope (answered as a
# wrong secret, issue 19, finding 18), or 403 for a path latchkeyd refuses
# whatever the key (an encoded '/' in the request target Caddy sends).
check_dot_segments() {
    local p
    for p in /web/../api/x /web/%2e%2e/api/x /web/.%2E/api/x /web/..%2fapi/x /web/..%2Fapi/x /web//../api/x \
        /web/./../api/x "/web/../api/x?/web/"; do
        check_match "web key, $p: refused, the API not reached (no uin=)" "^40[13] [^=]*$" \
            "$(http_req "$1$p" path-as-is "header = \"Authorization: Bearer $AK_WEB\"")"
    done
}
# stop_pidfile PIDFILE SIGNAL: stop the server whose master wrote PIDFILE
# (waiting up to 5 s for it to go); nothing when there is none.
stop_pidfile() {
    [ -s "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    kill -"$2" "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$1"
}

# nginx (tests/plugins/nginx*.sh, bench/nginx*.sh) with a private prefix
# $TMP/nginx. nginx_private: the http{} lines that keep its logs and temp
# files there (the access log: none when called with "off").
nginx_private() {
    if [ "${1:-}" = off ]; then echo "    access_log off;"; else echo "    access_log $TMP/nginx/logs/access.log;"; fi
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $TMP/nginx/tmp/${t#client_};"; done
}
# nginx_worker_user: as root, nginx's workers run as nobody; sets
# NGINX_USER_LINE (for nginx.conf) and LKD_ALLOW (a latchkeyd.yaml daemon
# line letting those workers, and root, in through the socket).
nginx_worker_user() {
    if [ "$(id -u)" = 0 ]; then
        NGINX_USER_LINE="user nobody $(id -gn nobody);"
        LKD_ALLOW="allow_uids: [0, $(id -u nobody)]"
    else
        NGINX_USER_LINE=
        LKD_ALLOW="allow_uids: [$(id -u)]"
    fi
}
# start_nginx CONF_FN: $NGINX with the configuration "CONF_FN PORT API MORE"
# prints, on three free ports (retried when another process took one);
# waits until the API port answers. Sets PORT, API_PORT and MORE_PORT;
# stopped at exit (or by stop_nginx).
stop_nginx() { stop_pidfile "$TMP/nginx/nginx.pid" QUIT; }
start_nginx() {
    local port api more
    CLEANUP_HOOKS+=(stop_nginx)
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    chmod 755 "$TMP/nginx" "$TMP/nginx/tmp" # nginx's workers may run as another user
    for _ in $(seq 10); do
        free_port port
        free_port api
        free_port more
        "$1" "$port" "$api" "$more" >"$TMP/nginx/nginx.conf"
        "$NGINX" -t -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "pid $TMP/nginx/nginx.pid;" >"$TMP/nginx.t" 2>&1 ||
            { cat "$TMP/nginx.t" >&2; die "nginx -t refused the configuration"; }
        "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "daemon off; pid $TMP/nginx/nginx.pid;" \
            >"$TMP/nginx.out" 2>&1 &
        for _ in $(seq 50); do
            if curl -s -o /dev/null "http://127.0.0.1:$api/"; then
                PORT=$port API_PORT=$api MORE_PORT=$more
                return 0
            fi
            grep -q "Address already in use" "$TMP/nginx.out" "$TMP/nginx/logs/error.log" 2>/dev/null && break
            sleep 0.1
        done
        stop_nginx
    done
    cat "$TMP/nginx.out" "$TMP/nginx/logs/error.log" >&2
    die "nginx did not start"
}
