# tests/plugins: each plugin proven inside its real host (libpam through
# pam_wrapper, the mosquitto broker, a dlopen host).

# A host of the dlopen ABI (examples/host.c), and the same source built as a
# host that knows only an older, smaller table.
check_PROGRAMS += examples/host tests/plugins/host_old
examples_host_SOURCES = examples/host.c
examples_host_CFLAGS = $(AM_CFLAGS)
examples_host_LDADD = -ldl
tests_plugins_host_old_SOURCES = examples/host.c
tests_plugins_host_old_CFLAGS = $(AM_CFLAGS) -DLK_HOST_OLD_ABI
tests_plugins_host_old_LDADD = -ldl
TESTS += tests/plugins/abi.sh

if HAVE_PAM
check_PROGRAMS += tests/plugins/pam_harness
tests_plugins_pam_harness_SOURCES = tests/plugins/pam_harness.c
tests_plugins_pam_harness_CFLAGS = $(AM_CFLAGS)
tests_plugins_pam_harness_LDADD = $(PAM_LIBS)
TESTS += tests/plugins/pam.sh tests/plugins/sshd.sh tests/plugins/dovecot.sh
endif

if HAVE_MOSQUITTO
TESTS += tests/plugins/mosquitto.sh
endif

# Skips, saying why, when apache2 or the module (apache2-dev) is missing.
TESTS += tests/plugins/apache.sh
# latchkeyd's HTTP endpoint behind nginx; skips without nginx or libmicrohttpd.
TESTS += tests/plugins/nginx.sh
# The same endpoint behind Caddy (etc/caddy/Caddyfile); skips without caddy
# or libmicrohttpd.
TESTS += tests/plugins/caddy.sh
# Slow clients against the HTTP endpoint itself; skips without libmicrohttpd.
TESTS += tests/plugins/http_slow.sh
# ngx_http_auth_latchkey_module in the real nginx (load_module), with
# latchkeyd's socket; skips without nginx or the module (nginx-dev).
TESTS += tests/plugins/nginx_module.sh

EXTRA_DIST += tests/plugins/apache.sh tests/plugins/common.sh tests/plugins/pam.sh tests/plugins/sshd.sh tests/plugins/dovecot.sh tests/plugins/abi.sh tests/plugins/mosquitto.sh tests/plugins/nginx.sh tests/plugins/caddy.sh \
	tests/plugins/http_slow.sh tests/plugins/nginx_module.sh tests/plugins/fake_latchkeyd.pl
