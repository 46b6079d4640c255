#!/bin/bash
# links.sh — README.md and the doc/ pages hold together:
#   - every relative link (a file, a file#anchor or an #anchor of the same
#     page) leads to a file that exists and to a heading that page has, by
#     GitHub's rule for heading anchors;
#   - every doc/ page has a "# " title and is in the README's map.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # SH_LOG_COMPILER may be a POSIX sh
set -u
. "$LK_SRCDIR/tests/plugins/common.sh"

# anchors PAGE: the anchors of PAGE's headings (outside code blocks):
# lower case, only letters, digits, spaces, '-' and '_' kept, spaces to
# '-', a repeated one suffixed -1, -2...
anchors() {
    awk '/^ *```/ { f = !f; next }
         !f && /^#+ / { h = $0; sub(/^#+ +/, "", h); h = tolower(h)
                        gsub(/[^a-z0-9 _-]/, "", h); gsub(/ /, "-", h)
                        n = seen[h]++; print (n ? h "-" n : h) }' "$1"
}

# links PAGE: "LINE TARGET" for each ](TARGET) outside code blocks and
# code spans.
links() {
    awk '/^ *```/ { f = !f; next }
         !f { l = $0; gsub(/`[^`]*`/, "", l)
              while (match(l, /\]\([^)]*\)/)) {
                  print FNR, substr(l, RSTART + 2, RLENGTH - 3); l = substr(l, RSTART + RLENGTH) } }' "$1"
}

pages=("$LK_SRCDIR/README.md" "$LK_SRCDIR"/doc/*.md)
check "doc/ has pages" yes "$([ "${#pages[@]}" -gt 10 ] && echo yes || echo no)"
bad=
nlinks=0
for page in "${pages[@]}"; do
    rel=${page#"$LK_SRCDIR"/}
    while read -r line target; do
        case $target in http://* | https://* | mailto:*) continue ;; esac
        nlinks=$((nlinks + 1))
        file=${target%%#*}
        anchor=
        case $target in *'#'*) anchor=${target#*#} ;; esac
        if [ -z "$file" ]; then dest=$page; else dest=$(dirname "$page")/$file; fi
        if [ ! -e "$dest" ]; then
            bad="$bad $rel:$line:$target[no-such-file]"
        elif [ -n "$anchor" ] && ! anchors "$dest" | grep -qxF -- "$anchor"; then
            bad="$bad $rel:$line:$target[no-such-heading]"
        fi
    done < <(links "$page")
done
check "found the links" yes "$([ "$nlinks" -gt 40 ] && echo yes || echo no)"
check "every link leads to a file and a heading" "" "$bad"

untitled=
unmapped=
for page in "$LK_SRCDIR"/doc/*.md; do
    name=doc/$(basename "$page")
    head -1 "$page" | grep -q '^# ' || untitled="$untitled $name"
    links "$LK_SRCDIR/README.md" | grep -q " $name\$" || unmapped="$unmapped $name"
done
check "every doc/ page begins with a title" "" "$untitled"
check "every doc/ page is in the README's map" "" "$unmapped"

finish
