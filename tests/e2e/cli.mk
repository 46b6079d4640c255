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
	tests/e2e/import.sh \
	tests/e2e/quickstart.sh \
	tests/e2e/keylife.sh \
	tests/e2e/rotation.sh \
	tests/e2e/scan.sh
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/lib.sh examples/quickstart.sh

# heap.sh: secrets never reach freed heap memory, checked by an LD_PRELOAD
# scanner of free()/realloc() (a test-only module, never installed).
check_LTLIBRARIES += tests/e2e/heapscan.la
tests_e2e_heapscan_la_SOURCES = tests/e2e/heapscan.c
tests_e2e_heapscan_la_CFLAGS = $(AM_CFLAGS)
tests_e2e_heapscan_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_e2e_heapscan_la_LIBADD = -ldl
TESTS += tests/e2e/heap.sh
EXTRA_DIST += tests/e2e/heap.sh

# output.sh: what a person reads (issue 23): times with their zone offset,
# the audit in words, tables that fit (every backend in $LK_E2E_BACKENDS).
TESTS += tests/e2e/output.sh
EXTRA_DIST += tests/e2e/output.sh

# expired.sh: what a person reads of an expired key (every backend in $LK_E2E_BACKENDS).
TESTS += tests/e2e/expired.sh
EXTRA_DIST += tests/e2e/expired.sh

# selfservice.sh: the self-service grant options, and what `latchkey audit`
# shows of a change made for a management-API caller (as_caller makes one
# through the library, as latchkeyd does; a test-only program).
check_PROGRAMS += tests/e2e/as_caller
tests_e2e_as_caller_SOURCES = tests/e2e/as_caller.c
tests_e2e_as_caller_CFLAGS = $(AM_CFLAGS)
tests_e2e_as_caller_LDADD = liblatchkey.la
TESTS += tests/e2e/selfservice.sh
EXTRA_DIST += tests/e2e/selfservice.sh
