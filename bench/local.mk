# bench/: the hot-path benchmark. `make check` only builds it (it is a
# check program but not in TESTS); `make bench` builds and runs it.
# It links the convenience library to bulk-load stores through the internal
# API; every measurement goes through the public verify calls.
check_PROGRAMS += bench/latchkey-bench
bench_latchkey_bench_SOURCES = bench/bench.h bench/bench.c bench/bench_util.c bench/bench_load.c
bench_latchkey_bench_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(LMDB_CFLAGS) $(YAML_CFLAGS)
bench_latchkey_bench_LDADD = libcore.la $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS)
EXTRA_DIST += bench/RESULTS.md

BENCH_DEPS = bench/latchkey-bench$(EXEEXT)
if HAVE_PAM
# The PAM part: libpam through pam_wrapper, pam_userdb's crypt() hashes.
bench_latchkey_bench_SOURCES += bench/bench_pam.c
bench_latchkey_bench_LDADD += $(PAM_LIBS) -lcrypt -ldl
BENCH_DEPS += pam_latchkey.la
BENCH_FLAGS = --pam-module $(abs_top_builddir)/.libs/pam_latchkey.so
else
bench_latchkey_bench_CFLAGS += -DLK_BENCH_NO_PAM
BENCH_FLAGS = --no-pam
endif

# make bench [BENCH_ARGS='--quick']: a few minutes on 2 cores.
bench: $(BENCH_DEPS)
	bench/latchkey-bench$(EXEEXT) $(BENCH_FLAGS) $(BENCH_ARGS)
.PHONY: bench
