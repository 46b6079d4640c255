# tests/e2e: shell tests driving the built `latchkey` binary (POSIX sh).
# Each behavioural script runs against every backend in $LK_E2E_BACKENDS
# (default "lmdb flatfile"); lib.sh holds the shared helpers.
E2E_TESTS = \
	tests/e2e/lifecycle.sh \
	tests/e2e/limits.sh \
	tests/e2e/apikeys.sh \
	tests/e2e/records.sh \
	tests/e2e/secrets.sh \
	tests/e2e/badinput.sh \
	tests/e2e/verify_input.sh \
	tests/e2e/config.sh \
	tests/e2e/store.sh \
	tests/e2e/init.sh \
	tests/e2e/copy.sh \
	tests/e2e/quickstart.sh \
	tests/e2e/keylife.sh
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/lib.sh examples/quickstart.sh

# heap.sh: secrets never reach freed heap memory, checked by an LD_PRELOAD
# scanner of free()/realloc() (a test-only module, never installed).
check_LTLIBRARIES = tests/e2e/heapscan.la
tests_e2e_heapscan_la_SOURCES = tests/e2e/heapscan.c
tests_e2e_heapscan_la_CFLAGS = $(AM_CFLAGS)
tests_e2e_heapscan_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_e2e_heapscan_la_LIBADD = -ldl
TESTS += tests/e2e/heap.sh
EXTRA_DIST += tests/e2e/heap.sh
