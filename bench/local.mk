# bench/: the hot-path benchmark. `make check` only builds it (it is a
# check program but not in TESTS); `make bench` builds and runs it.
# It links the convenience library to bulk-load stores through the internal
# API; every measurement goes through the public verify calls.
check_PROGRAMS += bench/latchkey-bench
bench_latchkey_bench_SOURCES = bench/bench.h bench/bench.c bench/bench_util.c bench/bench_load.c
bench_latchkey_bench_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(LMDB_CFLAGS) $(YAML_CFLAGS)
bench_latchkey_bench_LDADD = libcore.la $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS)
EXTRA_DIST += bench/RESULTS.md bench/apache.sh bench/nginx.sh bench/nginx_module.sh bench/wrk_lib.sh

BENCH_DEPS = bench/latchkey-bench$(EXEEXT)
if HAVE_PAM
# The PAM part: libpam through pam_wrapper, pam_userdb's crypt() hashes.
bench_latchkey_bench_SOURCES += bench/bench_pam.c
bench_latchkey_bench_LDADD += $(PAM_LIBS) -lcrypt -ldl
BENCH_DEPS += pam_latchkey.la latchkeyd$(EXEEXT)
BENCH_FLAGS = --pam-module $(abs_top_builddir)/.libs/pam_latchkey.so --latchkeyd $(abs_top_builddir)/latchkeyd$(EXEEXT)
else
bench_latchkey_bench_CFLAGS += -DLK_BENCH_NO_PAM
BENCH_FLAGS = --no-pam
endif

# make bench [BENCH_ARGS='--quick']: a few minutes on 2 cores.
# Then Apache with mod_authn_latchkey vs `Require all granted`, and nginx
# auth_request to latchkeyd's HTTP endpoint vs the same location unprotected,
# and ngx_http_auth_latchkey_module vs both (bench/nginx_module.sh)
# (wrk; each skipped, saying why, without its server, wrk or the module /
# libmicrohttpd).
if HAVE_APACHE
BENCH_DEPS += mod_authn_latchkey.la
endif
# The real Mosquitto broker: the plugin vs password_file vs no
# authentication (bench/mosquitto.sh, driven by a raw-socket MQTT client;
# skipped, saying why, without the broker or the plugin).
check_PROGRAMS += bench/mqtt_bench
bench_mqtt_bench_SOURCES = bench/mqtt_bench.c
bench_mqtt_bench_CFLAGS = $(AM_CFLAGS) -pthread
bench_mqtt_bench_LDFLAGS = -pthread
EXTRA_DIST += bench/mosquitto.sh
BENCH_DEPS += bench/mqtt_bench$(EXEEXT)
if HAVE_MOSQUITTO
BENCH_DEPS += mosquitto_latchkey.la
endif
bench-mosquitto: bench/mqtt_bench$(EXEEXT) bench/latchkey-bench$(EXEEXT) latchkey$(EXEEXT)
	LK_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(top_srcdir)/bench/mosquitto.sh || test $$? = 77

bench: $(BENCH_DEPS) bench-daemon bench-manage latchkey$(EXEEXT)
	bench/latchkey-bench$(EXEEXT) $(BENCH_FLAGS) $(BENCH_ARGS)
	$(MAKE) $(AM_MAKEFLAGS) bench-pg
	LK_BUILDDIR='$(abs_top_builddir)' LK_SRCDIR='$(abs_top_srcdir)' $(SHELL) $(srcdir)/bench/apache.sh || test $$? = 77
	LK_BUILDDIR='$(abs_top_builddir)' LK_SRCDIR='$(abs_top_srcdir)' LK_HAVE_HTTP='$(LK_HAVE_HTTP)' \
		$(SHELL) $(srcdir)/bench/nginx.sh || test $$? = 77
	LK_BUILDDIR='$(abs_top_builddir)' LK_SRCDIR='$(abs_top_srcdir)' LK_HAVE_HTTP='$(LK_HAVE_HTTP)' \
		$(SHELL) $(srcdir)/bench/nginx_module.sh || test $$? = 77
	LK_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(srcdir)/bench/mosquitto.sh || test $$? = 77

# latchkeyd through its socket (also run by make bench): bench/daemon.sh.
bench-daemon: latchkeyd$(EXEEXT) latchkey$(EXEEXT) tests/daemon/lkd_driver$(EXEEXT)
	LK_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(top_srcdir)/bench/daemon.sh
EXTRA_DIST += bench/daemon.sh
.PHONY: bench bench-daemon bench-mosquitto
# The PostgreSQL store (also run by make bench): bench/pg.sh starts a private
# cluster; skipped, saying why, without PostgreSQL or the backend.
# make bench-pg [BENCH_PG_ARGS='--max-keys 100000 --trials 50']
if HAVE_POSTGRESQL
check_PROGRAMS += bench/latchkey-bench-pg
bench_latchkey_bench_pg_SOURCES = bench/bench.h bench/bench_pg.c bench/bench_util.c bench/bench_load.c
bench_latchkey_bench_pg_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(LMDB_CFLAGS) $(YAML_CFLAGS) $(PQ_CFLAGS)
bench_latchkey_bench_pg_LDADD = libcore.la $(SODIUM_LIBS) $(LMDB_LIBS) $(YAML_LIBS) $(PQ_LIBS)
BENCH_PG_DEPS = bench/latchkey-bench-pg$(EXEEXT)
endif
bench-pg: $(BENCH_PG_DEPS)
	LK_BUILDDIR='$(abs_top_builddir)' LK_SRCDIR='$(abs_top_srcdir)' LK_HAVE_POSTGRESQL='$(LK_HAVE_POSTGRESQL)' \
	    BENCH_PG_ARGS='$(BENCH_PG_ARGS)' $(SHELL) $(srcdir)/bench/pg.sh || test $$? = 77
EXTRA_DIST += bench/pg.sh
.PHONY: bench-pg
# latchkeyd's management API (also run by make bench): bench/manage.sh, with
# bench/manage_bench (libcurl, keep-alive, one connection per thread).
check_PROGRAMS += bench/manage_bench
bench_manage_bench_SOURCES = bench/manage_bench.c
bench_manage_bench_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(SODIUM_CFLAGS) -pthread
bench_manage_bench_LDADD = liblatchkey.la $(CURL_LIBS) $(SODIUM_LIBS)
bench_manage_bench_LDFLAGS = -pthread
EXTRA_DIST += bench/manage.sh
bench-manage: latchkeyd$(EXEEXT) latchkey$(EXEEXT) bench/manage_bench$(EXEEXT)
	LK_BUILDDIR='$(abs_top_builddir)' LK_HAVE_HTTP='$(LK_HAVE_HTTP)' $(SHELL) $(top_srcdir)/bench/manage.sh || test $$? = 77
.PHONY: bench-manage
