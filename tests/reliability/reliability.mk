# tests/reliability: crash safety, concurrency, hostile input, timing.
# The C drivers link the convenience library (internal API included); the
# shell scripts run them (and the `latchkey` CLI) on real stores.
# Long runs of the same tests: tests/ci/long.sh.

check_PROGRAMS += tests/reliability/crash_driver tests/reliability/concurrency tests/reliability/test_timing \
	tests/reliability/test_hostile_api tests/reliability/test_store_replaced tests/reliability/reader_hold \
	tests/reliability/test_fork
tests_reliability_crash_driver_SOURCES = tests/reliability/crash_driver.c
tests_reliability_crash_driver_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/backends
tests_reliability_crash_driver_LDADD = $(UNIT_LIBS)
tests_reliability_concurrency_SOURCES = tests/reliability/concurrency.c
tests_reliability_concurrency_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_concurrency_LDADD = $(UNIT_LIBS)
tests_reliability_test_timing_SOURCES = tests/reliability/test_timing.c
tests_reliability_test_timing_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_test_timing_LDADD = $(UNIT_LIBS)
tests_reliability_test_hostile_api_SOURCES = tests/reliability/test_hostile_api.c
tests_reliability_test_hostile_api_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_test_hostile_api_LDADD = $(UNIT_LIBS)
# ctx_pool.c is the plugins' process-wide ctx pool: its lock must survive fork too.
tests_reliability_test_fork_SOURCES = tests/reliability/test_fork.c plugins/ctx_pool.c plugins/ctx_pool.h
tests_reliability_test_fork_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_test_fork_LDADD = $(UNIT_LIBS)

tests_reliability_test_store_replaced_SOURCES = tests/reliability/test_store_replaced.c
tests_reliability_test_store_replaced_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_test_store_replaced_LDADD = $(UNIT_LIBS)
tests_reliability_reader_hold_SOURCES = tests/reliability/reader_hold.c
tests_reliability_reader_hold_CFLAGS = $(UNIT_CFLAGS)
tests_reliability_reader_hold_LDADD = $(UNIT_LIBS)

TESTS += tests/reliability/test_timing tests/reliability/test_hostile_api tests/reliability/test_fork tests/reliability/crash.sh tests/reliability/concurrency.sh \
	tests/reliability/hostile.sh tests/reliability/test_store_replaced tests/reliability/readers.sh
EXTRA_DIST += tests/reliability/lib.sh tests/reliability/crash.sh tests/reliability/concurrency.sh tests/reliability/readers.sh \
	tests/reliability/hostile.sh tests/RELIABILITY.md \
	tests/ci/sanitize.sh tests/ci/valgrind.sh tests/ci/fuzz.sh tests/ci/long.sh tests/ci/package-smoke.sh tests/ci/distfiles.sh

# meta_stall.sh: an LMDB store opened while a writer is slow to finish its
# commit, held there by an LD_PRELOAD (a test-only module, never installed).
check_LTLIBRARIES += tests/reliability/meta_stall.la
tests_reliability_meta_stall_la_SOURCES = tests/reliability/meta_stall.c
tests_reliability_meta_stall_la_CFLAGS = $(AM_CFLAGS)
tests_reliability_meta_stall_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_reliability_meta_stall_la_LIBADD = -ldl
TESTS += tests/reliability/meta_stall.sh
EXTRA_DIST += tests/reliability/meta_stall.sh
