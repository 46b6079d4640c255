# tests/docs: the documentation checked against the code (README.md and the
# doc/ pages, man pages, bash completion), so that it cannot rot silently.

# doc/plugins.md's dlopen example, built as pasted.
check_PROGRAMS += examples/readme_dlopen
examples_readme_dlopen_SOURCES = examples/readme_dlopen.c
examples_readme_dlopen_CFLAGS = $(AM_CFLAGS)
examples_readme_dlopen_LDADD = -ldl

DOCS_TESTS = tests/docs/readme.sh tests/docs/links.sh tests/docs/fleet.sh tests/docs/man.sh tests/docs/completion.sh tests/docs/symbols.sh
TESTS += $(DOCS_TESTS)
EXTRA_DIST += $(DOCS_TESTS) tests/docs/lib.sh
