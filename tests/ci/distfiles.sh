#!/usr/bin/env bash
# Every file git tracks is in the release tarball (debian/ is copied beside
# it by the package stage; .gitignore files are not wanted there). Run early
# in CI: a test left out of EXTRA_DIST otherwise fails only in distcheck,
# half an hour in. Needs a configured tree and git.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^PACKAGE_VERSION = //p' Makefile)
dir="latchkey-$version"
rm -rf "$dir"
make -s distdir >/dev/null
missing=$(comm -23 <(git ls-files | sort) \
    <(cd "$dir" && find . -type f | sed 's|^\./||' | sort) |
    grep -vE '^debian/|(^|/)\.gitignore$' || :)
rm -rf "$dir"
if [ -n "$missing" ]; then
    echo "tracked by git but not in the release tarball (add to EXTRA_DIST or a dist_ variable):"
    printf '  %s\n' $missing
    exit 1
fi
echo "distfiles: every tracked file is in the tarball"
