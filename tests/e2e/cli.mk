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
	tests/e2e/config.sh \
	tests/e2e/store.sh \
	tests/e2e/init.sh \
	tests/e2e/quickstart.sh
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/lib.sh examples/quickstart.sh
