#!/usr/bin/env bash
# tests/ci/package-smoke.sh — smoke test of the INSTALLED Debian packages
# (liblatchkey0, liblatchkey-dev, latchkey, libpam-latchkey,
# mosquitto-latchkey, latchkeyd, libapache2-mod-authn-latchkey,
# libnginx-mod-http-auth-latchkey), nothing from a build tree:
#   - files where Debian looks for them (PAM module in the multiarch security
#     dir, pam-auth-update profile not enabled, store dir 0700);
#   - /usr/bin/latchkey: init a config and store in a scratch dir, user add
#     --login, key create, verify allowed and denied;
#   - the PAM module by its bare name `pam_latchkey.so` through pamtester,
#     in a scratch PAM service under pam_wrapper (nothing in /etc/pam.d);
#   - a program built with `pkg-config latchkey` runs against the library;
#   - the dlopen module answers its ABI table.
# Needs pamtester and libpam-wrapper (test dependencies) and a C compiler.
set -uo pipefail

MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
LK=/usr/bin/latchkey
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lk-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILS=0
CHECKS=0

ok() { CHECKS=$((CHECKS + 1)); echo "ok   $1"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL $1"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (expected '$2', got '$3')"; fi; }
json_field() { tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"; }

# ---- installed files
for f in "$LK" /usr/lib/"$MA"/liblatchkey.so.0 /usr/lib/"$MA"/latchkey/latchkey_plugin.so \
    /usr/lib/"$MA"/latchkey/mosquitto_latchkey.so /lib/"$MA"/security/pam_latchkey.so \
    /usr/include/latchkey.h /usr/include/latchkey-plugin.h /usr/share/pam-configs/latchkey \
    /etc/latchkey/latchkey.yaml.example; do
    if [ -e "$f" ]; then ok "installed: $f"; else bad "installed: $f"; fi
done
check "store directory /var/lib/latchkey is 0700" 700 "$(stat -c %a /var/lib/latchkey 2>&1)"
check "pam-auth-update profile is off by default" "Default: no" "$(grep '^Default:' /usr/share/pam-configs/latchkey)"
if grep -qs pam_latchkey /etc/pam.d/common-auth /etc/pam.d/common-account; then
    bad "pam_latchkey is not in /etc/pam.d/common-* after install"
else
    ok "pam_latchkey is not in /etc/pam.d/common-* after install"
fi
check "the example config names the packaged store" 1 \
    "$(grep -c '^  path: /var/lib/latchkey/store.mdb$' /etc/latchkey/latchkey.yaml.example)"

# ---- the admin tool
CONF=$WORK/lk/latchkey.yaml
LOGIN=lksmoke$$
lk() { timeout 30 "$LK" --config "$CONF" "$@"; }
lk init >/dev/null
check "latchkey init: exit 0" 0 $?
[ -e "$WORK/lk/store.mdb" ] && ok "init: store beside the config" || bad "init: store beside the config"
lk user add 100001 --login "$LOGIN" >/dev/null
check "user add --login" 0 $?
out=$(lk --json key create 100001)
check "key create" 0 $?
ID=$(printf '%s' "$out" | json_field AccessKeyId)
SECRET=$(printf '%s' "$out" | json_field SecretAccessKey)
[ -n "$ID" ] && [ -n "$SECRET" ] || { echo "cannot parse key create output" >&2; exit 1; }
out=$(lk --json key create 100001)
SECRET2=$(printf '%s' "$out" | json_field SecretAccessKey)
printf '%s\n' "$SECRET" | lk verify "$ID" --login "$LOGIN" >/dev/null
check "verify: right secret, owner's login -> allowed (0)" 0 $?
printf '%s\n' "$SECRET2" | lk verify "$ID" >/dev/null 2>&1
check "verify: another key's secret -> denied (3)" 3 $?
printf '%s\n' "$SECRET" | lk verify "$ID" --login root >/dev/null 2>&1
check "verify: another login -> denied (3)" 3 $?

# ---- `latchkey init` of the system configuration: the store goes to the
# one default store directory. Only on a machine without a configuration.
if [ "$(id -u)" = 0 ] && [ ! -e /etc/latchkey/latchkey.yaml ] && [ ! -e /var/lib/latchkey/store.mdb ]; then
    timeout 30 "$LK" init >/dev/null
    check "init (system config): exit 0" 0 $?
    check "init (system config): store in /var/lib/latchkey" \
        '  path: "/var/lib/latchkey/store.mdb"' "$(grep '^  path:' /etc/latchkey/latchkey.yaml)"
    [ -e /var/lib/latchkey/store.mdb ] && ok "init (system config): store created" || bad "init (system config): store created"
    timeout 30 "$LK" user list >/dev/null
    check "latchkey without --config uses it" 0 $?
    rm -f /etc/latchkey/latchkey.yaml /var/lib/latchkey/store.mdb /var/lib/latchkey/store.mdb-lock
else
    echo "skip init of the system configuration (not root, or one exists)"
fi

# ---- PAM: the installed module by its bare name, through pamtester
PW=$(ls /usr/lib/"$MA"/libpam_wrapper.so /usr/lib/libpam_wrapper.so 2>/dev/null | head -n1)
if [ -z "$PW" ] || ! command -v pamtester >/dev/null; then
    bad "PAM: pamtester and libpam-wrapper are needed (apt-get install pamtester libpam-wrapper)"
else
    mkdir -p "$WORK/pam.d"
    printf 'auth required pam_latchkey.so config=%s mode=any\naccount required pam_latchkey.so config=%s mode=any\n' \
        "$CONF" "$CONF" >"$WORK/pam.d/lk-smoke"
    pamt() { # SECRET USER ACTIONS...
        local secret=$1
        shift
        printf '%s\n' "$secret" | env LD_PRELOAD="$PW" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$WORK/pam.d" \
            timeout 30 pamtester lk-smoke "$@" 2>&1
    }
    out=$(pamt "$ID:$SECRET" "$LOGIN" authenticate acct_mgmt)
    check "pamtester: SecretId:SecretKey as the bound login -> success" 0 $?
    printf '%s' "$out" | grep -q "successfully authenticated" && ok "pamtester: says authenticated" ||
        bad "pamtester: says authenticated ($out)"
    pamt "$ID:$SECRET2" "$LOGIN" authenticate >/dev/null
    check "pamtester: wrong secret -> failure" 1 $?
    pamt "$ID:$SECRET" root authenticate >/dev/null
    check "pamtester: the pair as root -> failure" 1 $?
fi

# ---- latchkeyd: its package, its user, and a store it owns that root manages
check "latchkeyd installed" 1 "$([ -x /usr/sbin/latchkeyd ] && echo 1)"
check "latchkeyd's systemd unit installed" 1 "$([ -f /lib/systemd/system/latchkeyd.service ] && echo 1)"
check "latchkeyd serves HTTP (libmicrohttpd through shlibs)" 1 \
    "$(ldd /usr/sbin/latchkeyd | grep -q libmicrohttpd && dpkg -s latchkeyd | grep -q '^Depends:.*libmicrohttpd' && echo 1)"
check "latchkeyd ships the reverse-proxy examples" 1 \
    "$([ -f /usr/share/latchkey/examples/nginx/latchkey.conf ] && [ -f /usr/share/latchkey/examples/envoy/latchkey.yaml ] && echo 1)"
check "system user latchkey exists" 1 "$(getent passwd latchkey >/dev/null && echo 1)"
if command -v setpriv >/dev/null && getent passwd latchkey >/dev/null; then
    LKD=$WORK/lkd
    mkdir -p "$LKD"
    cp -p "$WORK/lk/store.mdb" "$LKD/store.mdb"
    printf 'store: {backend: lmdb, path: %s/store.mdb}
daemon: {socket: %s/lkd.sock}
' "$LKD" "$LKD" >"$LKD/lkd.yaml"
    chown -R latchkey:latchkey "$LKD"
    chmod 711 "$WORK"
    U=$(id -u latchkey)
    setpriv --reuid="$U" --regid="$(id -g latchkey)" --clear-groups /usr/sbin/latchkeyd --config "$LKD/lkd.yaml" \
        2>"$WORK/lkd.log" &
    LKD_PID=$!
    for _ in $(seq 50); do [ -S "$LKD/lkd.sock" ] && break; sleep 0.1; done
    printf '%s\n' "$SECRET" | timeout 30 "$LK" --socket "$LKD/lkd.sock" verify "$ID" >/dev/null
    check "latchkeyd as user latchkey: verify through the socket" 0 $?
    timeout 30 "$LK" --config "$LKD/lkd.yaml" user add 100009 >/dev/null
    check "root manages the service's store in place" 0 $?
    check "the store stays the service's" latchkey "$(stat -c %U "$LKD/store.mdb" "$LKD/store.mdb-lock" | sort -u)"
    timeout 30 "$LK" --config "$LKD/lkd.yaml" key disable "$ID" >/dev/null
    printf '%s\n' "$SECRET" | timeout 30 "$LK" --socket "$LKD/lkd.sock" verify "$ID" >/dev/null
    check "a key disabled by root is refused by the service at once (3)" 3 $?
    kill "$LKD_PID" 2>/dev/null
    wait "$LKD_PID" 2>/dev/null
    # what an operator without systemd reads: the denial, with its code and key, no secret
    check "latchkeyd logged the denial (code, key)" 1 \
        "$(grep -c "denied AuthFailure\.[A-Za-z]*: key $ID," "$WORK/lkd.log")"
    check "latchkeyd's log holds no secret" 0 "$(grep -cF "$SECRET" "$WORK/lkd.log")"
    check "latchkey audit names the disable in words" 1 \
        "$(timeout 30 "$LK" --config "$LKD/lkd.yaml" audit | grep -c "key.disable.*$ID")"
else
    echo "skip latchkeyd as its own user (needs setpriv and the latchkey user)"
fi

# ---- the pam-auth-update profile, enabled in a private mount namespace:
# copies of /etc/pam.d and /var/lib/pam and a scratch /etc/latchkey are
# bind-mounted there, so the machine's PAM stack is never touched. A login
# latchkey knows but Unix does not passes common-auth with its pair.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null &&
    command -v pamtester >/dev/null && command -v pam-auth-update >/dev/null; then
    mkdir -p "$WORK/ns"
    cp -a /etc/pam.d "$WORK/ns/pam.d"
    cp -a /var/lib/pam "$WORK/ns/varpam"
    printf 'auth include common-auth\n' >"$WORK/ns/pam.d/lk-smoke-common"
    cat >"$WORK/ns/run.sh" <<NS
set -e
mount --bind "$WORK/ns/pam.d" /etc/pam.d
mount --bind "$WORK/ns/varpam" /var/lib/pam
mkdir -p /etc/latchkey
mount --bind "$WORK/lk" /etc/latchkey
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable latchkey
grep -q 'pam_latchkey.so' /etc/pam.d/common-auth || { echo "profile not in common-auth"; exit 2; }
grep -q 'pam_latchkey.so' /etc/pam.d/common-account || { echo "profile not in common-account"; exit 2; }
printf '%s\n' "\$1" | timeout 30 pamtester lk-smoke-common "$LOGIN" authenticate
NS
    out=$(unshare -m bash "$WORK/ns/run.sh" "$ID:$SECRET" 2>&1)
    check "pam-auth-update --enable latchkey (private namespace): the pair passes common-auth" 0 $?
    case $out in *"successfully authenticated"*) ;; *) echo "     $out" ;; esac
    unshare -m bash "$WORK/ns/run.sh" "$ID:$SECRET2" >/dev/null 2>&1
    check "pam-auth-update profile: a wrong pair fails common-auth" 1 $?
    if grep -qs pam_latchkey /etc/pam.d/common-auth /etc/pam.d/common-account; then
        bad "the machine's common-auth/common-account are unchanged"
    else
        ok "the machine's common-auth/common-account are unchanged"
    fi
else
    echo "skip the pam-auth-update profile test (needs root, unshare, pamtester, pam-auth-update)"
fi

# ---- liblatchkey-dev: build against the installed library
printf '#include <stdio.h>\n#include <latchkey.h>\nint main(void) { puts(lk_version()); return 0; }\n' >"$WORK/v.c"
# shellcheck disable=SC2046
if cc -o "$WORK/v" "$WORK/v.c" $(pkg-config --cflags --libs latchkey) 2>"$WORK/cc.err"; then
    check "pkg-config latchkey: a program links and runs" "$(pkg-config --modversion latchkey)" "$("$WORK/v")"
else
    bad "pkg-config latchkey: compile ($(cat "$WORK/cc.err"))"
fi

# ---- libapache2-mod-authn-latchkey: installed disabled, enabled the Debian way
AMOD=/usr/lib/apache2/modules/mod_authn_latchkey.so
if [ -e "$AMOD" ]; then ok "installed: $AMOD"; else bad "installed: $AMOD"; fi
check "authn_latchkey.load names the module" 1 \
    "$(grep -c "^LoadModule authn_latchkey_module $AMOD\$" /etc/apache2/mods-available/authn_latchkey.load 2>/dev/null)"
if [ -e /etc/apache2/mods-enabled/authn_latchkey.load ]; then
    bad "authn_latchkey is not enabled by the install"
else
    ok "authn_latchkey is not enabled by the install"
fi
if command -v a2enmod >/dev/null && command -v apache2ctl >/dev/null; then
    a2enmod -q authn_latchkey >"$WORK/a2enmod.out" 2>&1
    check "a2enmod authn_latchkey" 0 $?
    # A location that names the provider: configtest loads the module and its directives.
    printf '%s\n' '<Location /lk-smoke>' '    AuthType Basic' '    AuthName "lk-smoke"' \
        '    AuthBasicProvider latchkey' "    LatchkeyConfig $CONF" '    Require valid-user' \
        '</Location>' >/etc/apache2/conf-available/lk-smoke.conf
    a2enconf -q lk-smoke >/dev/null 2>&1
    apache2ctl -t >"$WORK/configtest.out" 2>&1
    check "apache2ctl -t with AuthBasicProvider latchkey ($(tr '\n' ' ' <"$WORK/configtest.out"))" 0 $?
    # (read whole: grep -q closing the pipe early would fail it under pipefail)
    modules=$(apache2ctl -M 2>/dev/null)
    case $modules in
    *authn_latchkey_module*) ok "apache2ctl -M lists authn_latchkey_module" ;;
    *) bad "apache2ctl -M lists authn_latchkey_module" ;;
    esac
    a2disconf -q lk-smoke >/dev/null 2>&1
    rm -f /etc/apache2/conf-available/lk-smoke.conf
    a2dismod -q authn_latchkey >/dev/null 2>&1
    check "a2dismod authn_latchkey" 0 $?
else
    bad "Apache module: a2enmod and apache2ctl are needed (apt-get install apache2)"
fi

# ---- the dlopen module answers its ABI table
cat >"$WORK/abi.c" <<EOF
#include <dlfcn.h>
#include <stdio.h>
#include <latchkey-plugin.h>
int main(void)
{
    void *m = dlopen("/usr/lib/$MA/latchkey/latchkey_plugin.so", RTLD_NOW | RTLD_LOCAL);
    if (m == NULL) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    lk_plugin_api_fn *get;
    *(void **)&get = dlsym(m, LK_PLUGIN_SYMBOL);
    if (get == NULL) return 1;
    const struct lk_plugin_api *api = get(LK_PLUGIN_ABI_VERSION);
    if (api == NULL) return 1;
    void *h;
    char err[256];
    if (api->open("$CONF", &h, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    api->close(h);
    puts("ok");
    return 0;
}
EOF
if cc -o "$WORK/abi" "$WORK/abi.c" -ldl 2>"$WORK/cc.err"; then
    check "latchkey_plugin.so: dlopen, ABI table, open the store" ok "$("$WORK/abi")"
else
    bad "latchkey_plugin.so host: compile ($(cat "$WORK/cc.err"))"
fi

# ---- libnginx-mod-http-auth-latchkey: enabled on install, as Debian's
# libnginx-mod-* (dh_nginx); nginx -t loads it, with a location using it.
NMOD=/usr/lib/nginx/modules/ngx_http_auth_latchkey_module.so
if [ -e "$NMOD" ]; then ok "installed: $NMOD"; else bad "installed: $NMOD"; fi
check "mod-http-auth-latchkey.conf loads the module" "load_module modules/ngx_http_auth_latchkey_module.so;" \
    "$(cat /usr/share/nginx/modules-available/mod-http-auth-latchkey.conf 2>&1)"
check "the module is enabled by the install" /usr/share/nginx/modules-available/mod-http-auth-latchkey.conf \
    "$(readlink /etc/nginx/modules-enabled/50-mod-http-auth-latchkey.conf)"
if command -v nginx >/dev/null; then
    printf '%s\n' 'include /etc/nginx/modules-enabled/*.conf;' 'events {}' 'http { server { listen 127.0.0.1:1;' \
        '    location / { auth_latchkey on; auth_latchkey_service api; } } }' >"$WORK/nginx.conf"
    nginx -t -q -c "$WORK/nginx.conf" -g "pid $WORK/nginx.pid; error_log stderr;" >"$WORK/nginx-t.out" 2>&1
    check "nginx -t with auth_latchkey on ($(tr '\n' ' ' <"$WORK/nginx-t.out"))" 0 $?
fi

echo "package smoke: $CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
