# tests/: run by `make check`. Unit tests are cmocka programs; end-to-end
# tests are shell scripts driving the built binaries and plugins.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	LK_BUILDDIR='$(abs_top_builddir)'; export LK_BUILDDIR; \
	LK_SRCDIR='$(abs_top_srcdir)'; export LK_SRCDIR; \
	LK_STATEDIR='$(latchkeystatedir)'; export LK_STATEDIR; \
	LK_HAVE_POSTGRESQL='$(LK_HAVE_POSTGRESQL)'; export LK_HAVE_POSTGRESQL; \
	LK_HAVE_HTTP='$(LK_HAVE_HTTP)'; export LK_HAVE_HTTP; \
	LK_HAVE_NGINX='$(LK_HAVE_NGINX)'; export LK_HAVE_NGINX; \
	TZ=UTC; export TZ;
# the test libraries run the programs behind libtool's wrapper scripts
EXTRA_DIST += tests/libtool.sh

# Unit tests link the convenience library to reach internal functions.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS)
UNIT_LIBS = libcore.la $(CMOCKA_LIBS) $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS)

# make -j starts the tests in this order: the longest (PostgreSQL's runs of
# the end-to-end scripts, the management API's matrix) first, so that no
# single long test is left running alone at the end.
include tests/pg/pg.mk
include tests/daemon/daemon.mk
include tests/reliability/reliability.mk
include tests/unit/core.mk
include tests/unit/backends.mk
include tests/unit/config.mk
include tests/e2e/cli.mk
include tests/plugins/plugins.mk
include tests/fuzz/fuzz.mk
include tests/console/console.mk
include tests/docs/docs.mk
