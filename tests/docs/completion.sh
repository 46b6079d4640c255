#!/bin/bash
# completion.sh — the bash completion of latchkey (etc/bash-completion/latchkey):
# a few completions by hand, then every command of `latchkey --help` and
# exactly the options the tool accepts for it (from its usage messages).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"
. "$LK_SRCDIR/tests/docs/lib.sh"
need_cli

. "$LK_SRCDIR/etc/bash-completion/latchkey" || die "cannot source the completion"
check "completion registered for latchkey" "complete -F _latchkey latchkey" "$(complete -p latchkey 2>&1)"

# comp LINE: what completing the last word of LINE offers (sorted, one line).
# A LINE ending in a space completes an empty word.
comp() {
    local line=$1
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _latchkey 2>/dev/null
    printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' '
}

check "commands" "apikey audit expiring help import init key records revoke scan stats store user verify" "$(comp 'latchkey ')"
check "a command by prefix" "apikey" "$(comp 'latchkey ap')"
check "subcommands" "create delete disable edit enable list reroll show" "$(comp 'latchkey apikey ')"
check "a subcommand after a global option" "delete disable" "$(comp 'latchkey --config x.yaml key d')"
check "options of apikey create" "--description" "$(comp 'latchkey apikey create 100001 --name n --allow-ip 10.0.0.0/8 --d')"
check "option values: --backend" "flatfile lmdb" "$(comp 'latchkey init --backend ')"
check "option values: --backend=" "flatfile" "$(comp 'latchkey init --backend = f')"
check "option values: --kind" "sub-user" "$(comp 'latchkey user add 2 --kind s')"
check "no option of another command" "--cacert --config --credentials --endpoint --help --json --socket --version" "$(comp 'latchkey key list 100001 --')"
check "a subcommand after --socket PATH" "show" "$(comp 'latchkey --socket /run/x.sock key sh')"
check "nothing for a UIN" "" "$(comp 'latchkey key create ')"

# Against the tool: every command, and per command exactly its options. The
# tool names a command's usage when given an option the command does not take.
commands=$(help_commands "$("$LK" --help)")
check "help lists commands" yes "$(printf '%s\n' "$commands" | grep -qx 'key create' && echo yes || echo no)"
while read -r group sub; do
    [ "$group" = help ] && continue
    check "completes '$group'" yes "$(comp "latchkey ${group:0:2}" | tr ' ' '\n' | grep -qx "$group" && echo yes || echo no)"
    if [ -n "$sub" ]; then
        check "completes '$group $sub'" yes \
            "$(comp "latchkey $group ${sub:0:1}" | tr ' ' '\n' | grep -qx "$sub" && echo yes || echo no)"
    fi
    probe=--force
    [ "$group $sub" = "user delete" ] && probe=--no-login
    usage=$("$LK" $group $sub $probe 2>&1 | sed -n 's/.*(usage: latchkey \(.*\))$/\1/p')
    [ -n "$usage" ] || { check "usage of '$group $sub'" "a usage" ""; continue; }
    want=$(printf '%s\n' "$usage" | grep -oE -- '--[a-z-]+' | sort -u | paste -sd' ')
    got=$(comp "latchkey $group $sub --" | tr ' ' '\n' | grep -vxE -- '--(config|json|socket|endpoint|credentials|cacert|help|version)' | paste -sd' ')
    check "options of '$group${sub:+ $sub}'" "$want" "$got"
done <<<"$commands"

finish
