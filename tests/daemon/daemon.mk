# tests/daemon: latchkeyd end to end — the service on a socket in a scratch
# directory, driven by `latchkey --socket`, examples/host (the dlopen ABI
# with a "unix:" path) and lkd_driver (raw connections, floods, benchmarks).
check_PROGRAMS += tests/daemon/lkd_driver
tests_daemon_lkd_driver_SOURCES = tests/daemon/lkd_driver.c client/proto.c client/lk_proto.h core/keyfmt.c
tests_daemon_lkd_driver_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
tests_daemon_lkd_driver_LDADD = liblatchkey.la $(SODIUM_LIBS)
TESTS += tests/daemon/daemon.sh tests/daemon/abuse.sh tests/daemon/operator.sh
EXTRA_DIST += tests/daemon/daemon.sh tests/daemon/abuse.sh tests/daemon/operator.sh tests/daemon/lib.sh
# The management API (daemon.manage) with curl; needs the HTTP build.
if HAVE_HTTP
TESTS += tests/daemon/manage.sh
endif
EXTRA_DIST += tests/daemon/manage.sh

# The admin tool as a client of the management API (latchkey --endpoint),
# plain HTTP and TLS, as a sub-user.
TESTS += tests/daemon/remote.sh
EXTRA_DIST += tests/daemon/remote.sh tests/daemon/lkd_manage_lib.sh

# The HTTP endpoint's request reading, without libmicrohttpd (pure: built
# whether or not latchkeyd serves HTTP).
check_PROGRAMS += tests/daemon/test_http_parse
TESTS += tests/daemon/test_http_parse
tests_daemon_test_http_parse_SOURCES = tests/daemon/test_http_parse.c daemon/http_parse.c daemon/http_parse.h
tests_daemon_test_http_parse_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/daemon
tests_daemon_test_http_parse_LDADD = $(UNIT_LIBS)

# The shipped systemd unit and its HTTP drop-in: systemd-analyze verify, and
# latchkeyd run with their settings mirrored (restrict_af: the address
# family filter of RestrictAddressFamilies=).
check_PROGRAMS += tests/daemon/restrict_af
tests_daemon_restrict_af_SOURCES = tests/daemon/restrict_af.c
TESTS += tests/daemon/systemd.sh
EXTRA_DIST += tests/daemon/systemd.sh
# The management API's request reading (daemon/manage_req.c), without
# libmicrohttpd: bodies, queries, parameters, credentials, request limits.
check_PROGRAMS += tests/daemon/test_manage_req
TESTS += tests/daemon/test_manage_req
tests_daemon_test_manage_req_SOURCES = tests/daemon/test_manage_req.c daemon/manage_req.c daemon/manage_req.h \
	daemon/http_parse.c daemon/http_parse.h
tests_daemon_test_manage_req_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS) -I$(top_srcdir)/daemon
tests_daemon_test_manage_req_LDADD = $(UNIT_LIBS) $(JSONC_LIBS)
# The key console's sessions and static-path check (daemon/console_session.c).
check_PROGRAMS += tests/daemon/test_console_session
TESTS += tests/daemon/test_console_session
tests_daemon_test_console_session_SOURCES = tests/daemon/test_console_session.c daemon/console_session.c \
	daemon/console_session.h
tests_daemon_test_console_session_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/daemon
tests_daemon_test_console_session_LDADD = $(UNIT_LIBS)
