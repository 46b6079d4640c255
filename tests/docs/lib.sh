# lib.sh — sourced by the docs tests.

# printable_codes prints, one a line, every error code the tool can print:
# the codes of core/status.c (and lk_status_code's fallback), and the code
# literals of tools/ in the same families (FailedOperation.ConfigExists,
# InternalError, ...).
printable_codes() {
    local codes families
    codes=$(sed -n 's/.*\[LK_[A-Z_]*\] = {"\([^"]*\)".*/\1/p; s/.*: "\(InternalError\.[A-Za-z]*\)";.*/\1/p' \
        "$LK_SRCDIR/core/status.c" | grep -vx Success)
    families=$(printf '%s\n' "$codes" | sed 's/\..*//' | sort -u | paste -sd'|')
    { printf '%s\n' "$codes"; cat "$LK_SRCDIR"/tools/*.c "$LK_SRCDIR"/tools/*.h |
        grep -oE "\"($families)(\\.[A-Za-z]+)*\"" | tr -d '"'; } | sort -u
}

# help_commands HELPTEXT prints, one a line, every command of `latchkey
# --help`: "group sub" for each "  group sub[|sub...] ARGS" line under
# "Commands:", the word alone for one-word commands ("  verify SECRETID").
help_commands() {
    printf '%s\n' "$1" | sed -n '/^Commands:/,/^$/p' |
        sed -n 's/^  \([a-z][a-z]*\)\( \([a-z][a-z|]*\)\)\{0,1\}\( .*\)\{0,1\}$/\1 \3/p' |
        while read -r group subs; do
            if [ -z "$subs" ]; then echo "$group"; else for s in ${subs//|/ }; do echo "$group $s"; done; fi
        done | sort -u
}
