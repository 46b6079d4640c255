# tests/daemon: latchkeyd end to end — the service on a socket in a scratch
# directory, driven by `latchkey --socket`, examples/host (the dlopen ABI
# with a "unix:" path) and lkd_driver (raw connections, floods, benchmarks).
check_PROGRAMS += tests/daemon/lkd_driver
tests_daemon_lkd_driver_SOURCES = tests/daemon/lkd_driver.c client/proto.c client/lk_proto.h core/keyfmt.c
tests_daemon_lkd_driver_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
tests_daemon_lkd_driver_LDADD = liblatchkey.la $(SODIUM_LIBS)
TESTS += tests/daemon/daemon.sh
EXTRA_DIST += tests/daemon/daemon.sh

# The HTTP endpoint's request reading, without libmicrohttpd (pure: built
# whether or not latchkeyd serves HTTP).
check_PROGRAMS += tests/daemon/test_http_parse
TESTS += tests/daemon/test_http_parse
tests_daemon_test_http_parse_SOURCES = tests/daemon/test_http_parse.c daemon/http_parse.c daemon/http_parse.h
tests_daemon_test_http_parse_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/daemon
tests_daemon_test_http_parse_LDADD = $(UNIT_LIBS)
