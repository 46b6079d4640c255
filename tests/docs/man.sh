#!/bin/bash
# man.sh — the manual pages render without a warning, and cannot fall behind
# the code: every command and option of `latchkey --help`, every exit status
# and error code is in latchkey(1); every key the config parser knows, with
# its range, is in latchkey.yaml(5); every module argument is in
# pam_latchkey(8) and mosquitto_latchkey(8); every directive in
# mod_authn_latchkey(8).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/tests/docs/lib.sh"

MAN=$LK_BUILDDIR/man
PAGES="latchkey.1 latchkey.yaml.5 latchkeyd.8 pam_latchkey.8 mosquitto_latchkey.8 mod_authn_latchkey.8"
for p in $PAGES; do [ -f "$MAN/$p" ] || die "$MAN/$p not built"; done
have_mandoc=0 have_groff=0
command -v mandoc >/dev/null 2>&1 && have_mandoc=1
command -v groff >/dev/null 2>&1 && have_groff=1
[ $have_mandoc = 1 ] || [ $have_groff = 1 ] || skip "neither mandoc nor groff is installed"
need_cli

# render PAGE: plain text, no overstrike
render() {
    if [ $have_mandoc = 1 ]; then
        mandoc -T ascii -O width=78 "$1" | sed 's/.\x08//g'
    else
        groff -mandoc -T ascii -P-cbou "$1"
    fi
}

# ---- 1. every page renders cleanly, paths filled in
for p in $PAGES; do
    f=$MAN/$p
    if [ $have_mandoc = 1 ]; then
        check "$p: mandoc -T lint -W warning" "" "$(mandoc -T lint -W warning "$f" 2>&1)"
    fi
    if [ $have_groff = 1 ]; then
        # -Wbreak: a configured path longer than the line (distcheck's
        # _inst prefix under a deep build directory) cannot be broken, and
        # that is the prefix's doing, not the page's.
        check "$p: groff -ww" "" "$(groff -mandoc -ww -Wbreak -z -T utf8 "$f" 2>&1)"
    fi
    check "$p: no unsubstituted @var@" "" "$(grep -o '@[a-z]*@' "$f" | sort -u | paste -sd' ')"
    check "$p: renders" yes "$(render "$f" | grep -q '^NAME' && echo yes || echo no)"
done

# ---- 2. latchkey(1) against latchkey --help
help=$("$LK" --help) || die "latchkey --help failed"
page=$(render "$MAN/latchkey.1")
# Command lines of the help: "  group sub[|sub...] ARGS" or "  word ARGS".
commands=$(help_commands "$help")
check "help lists commands" yes "$(printf '%s\n' "$commands" | grep -qx 'apikey disable' && echo yes || echo no)"
missing=
while read -r cmd; do
    printf '%s\n' "$page" | grep -Eq "^ +$cmd( |\$)" || missing="$missing [$cmd]"
done <<<"$commands"
check "latchkey(1) has every command of --help" "" "${missing# }"
missing=
for opt in $(printf '%s\n' "$help" | grep -oE -- '(^|[ [])-(-[a-z][a-z-]*|h)' | grep -oE -- '-+[a-z-]+' | sort -u); do
    printf '%s\n' "$page" | grep -q -- "$opt" || missing="$missing $opt"
done
check "latchkey(1) has every option of --help" "" "${missing# }"
status=$(printf '%s\n' "$page" | sed -n '/^EXIT STATUS/,/^[A-Z]/p')
missing=
for code in $(printf '%s\n' "$help" | sed -n '/^Exit status:/,/^$/p' | sed -n 's/^  \([0-9]\)  .*/\1/p'); do
    printf '%s\n' "$status" | grep -Eq "^ +$code( |\$)" || missing="$missing $code"
done
check "latchkey(1) has every exit status of --help" "" "${missing# }"
diag=$(printf '%s\n' "$page" | sed -n '/^DIAGNOSTICS/,/^[A-Z]/p')
missing=
for code in $(printable_codes); do
    printf '%s\n' "$diag" | grep -Eq "^ +$code\$" || missing="$missing $code"
done
check "latchkey(1) DIAGNOSTICS has every error code" "" "${missing# }"

# ---- 3. latchkey.yaml(5) against the config parser
# The parser names what it knows in its errors: the sections for an unknown
# top-level key, a section's keys for an unknown key in it, and a number's
# range for a value that is not a number.
parse_error() { # YAML
    printf '%s\n' "$1" >"$TMP/probe.yaml"
    "$LK" --config "$TMP/probe.yaml" user list 2>&1 >/dev/null
}
expected_list() { sed -n 's/.*(expected one of: \(.*\))$/\1/p' | tr -d ','; }
sections=$(parse_error 'no_such_section: 1' | expected_list)
check "parser names its sections" yes "$([ -n "$sections" ] && echo yes || echo no)"
src=$MAN/latchkey.yaml.5
nkeys=0
missing= badrange=
for s in $sections; do
    keys=$(parse_error "$s: {no_such_key: 1}" | expected_list)
    [ -n "$keys" ] || missing="$missing $s.(no keys?)"
    # a nested mapping (daemon: http:) names its own keys: section.sub.key
    sub_keys=
    for k in $keys; do
        sub=$(parse_error "$s: {$k: {no_such_key: 1}}" | expected_list)
        if [ -n "$sub" ]; then
            for sk in $sub; do sub_keys="$sub_keys $k.$sk"; done
        else
            sub_keys="$sub_keys $k"
        fi
    done
    for k in $sub_keys; do
        nkeys=$((nkeys + 1))
        # the key's entry: from ".It Ic section.key" to the next .It/.El
        entry=$(awk -v key="$s.$k" '$1 == ".It" && $2 == "Ic" && $3 == key { on = 1; next }
                                     on && ($1 == ".It" || $1 == ".El") { exit } on' "$src")
        if [ -z "$entry" ]; then
            missing="$missing $s.$k"
            continue
        fi
        range=$(parse_error "$s: {$k: notanumber}" | sed -n 's/.*decimal digits only, \([0-9]*\.\.[0-9]*\)).*/\1/p')
        if [ -n "$range" ] && ! printf '%s\n' "$entry" | grep -q "range $range"; then
            badrange="$badrange $s.$k($range)"
        fi
        printf '%s\n' "$entry" | grep -qi 'default' || badrange="$badrange $s.$k(no default)"
    done
done
check "parser names at least 12 keys" yes "$([ "$nkeys" -ge 12 ] && echo yes || echo no)"
check "latchkey.yaml(5) has every config key" "" "${missing# }"
check "latchkey.yaml(5) states each key's default and the parser's range" "" "${badrange# }"

# ---- 4. module arguments
pam=$(render "$MAN/pam_latchkey.8" | sed -n '/^OPTIONS/,/^[A-Z]/p')
args=$(grep -oE 'str(n)?cmp\((arg|m), "[a-z_]+=?"' "$LK_SRCDIR/plugins/pam_latchkey.c" | sed 's/.*"\(.*\)"/\1/')
missing=
for a in $args; do
    case $a in
        secretid | apikey | any) a="mode=$a" ;;
    esac
    printf '%s\n' "$pam" | grep -Eq "^ +$a" || missing="$missing $a"
done
check "pam_latchkey(8) OPTIONS has every module argument" "" "${missing# }"
check "pam_latchkey(8): SecretId:SecretKey, any_user, account phase" yes \
    "$(render "$MAN/pam_latchkey.8" | grep -q 'SecretId:SecretKey' &&
        render "$MAN/pam_latchkey.8" | grep -q 'any_user' &&
        render "$MAN/pam_latchkey.8" | grep -q 'The account phase' && echo yes || echo no)"
mosq=$(render "$MAN/mosquitto_latchkey.8" | sed -n '/^OPTIONS/,/^[A-Z]/p')
missing=
for o in $(grep -oE 'strcasecmp\(options\[i\]\.key, "[a-z_]+"' "$LK_SRCDIR/plugins/mosquitto_latchkey.c" |
    sed 's/.*"\(.*\)"/\1/'); do
    printf '%s\n' "$mosq" | grep -Eq "^ +plugin_opt_$o" || missing="$missing plugin_opt_$o"
done
check "mosquitto_latchkey(8) OPTIONS has every plugin_opt" "" "${missing# }"
apache=$(render "$MAN/mod_authn_latchkey.8" | sed -n '/^DIRECTIVES/,/^[A-Z]/p')
missing=
for d in $(grep -oE 'AP_INIT_[A-Z0-9]+\("Latchkey[A-Za-z]+"' "$LK_SRCDIR/plugins/mod_authn_latchkey.c" |
    sed 's/.*"\(.*\)"/\1/'); do
    printf '%s\n' "$apache" | grep -Eq "^ +$d( |$)" || missing="$missing $d"
done
check "mod_authn_latchkey(8) DIRECTIVES has every directive" "" "${missing# }"

finish
