#!/bin/sh
# Install the Debian packages latchkey needs (when run as root or with sudo),
# then configure and build.
#
# Usage: ./bootstrap.sh [configure options]      e.g. ./bootstrap.sh --prefix=/usr
#
# Packages, installed by one apt-get command:
#   BUILD_DEPS  to configure and build (nginx-dev: the nginx module is built
#               against the packaged nginx; libcmocka-dev too: configure wants it
#               for `make check`'s unit tests);
#   TEST_DEPS   only for `make check`'s plugin tests, which skip what is
#               missing: the mosquitto broker and clients, pamtester,
#               libpam-wrapper, db-util (bench), mandoc (man page lint),
#               bash-completion, apache2 and curl (the Apache module's test
#               runs its own apache2 with a private configuration; where
#               services start on install, the package also starts Debian's
#               default site on port 80, which no test uses), wrk (make
#               bench: the Apache figures), postgresql (the PostgreSQL
#               tests start a private cluster; the package may start
#               Debian's own), dovecot-imapd (the Dovecot test runs a
#               private Dovecot), nginx (the HTTP verify endpoint's test
#               runs its own nginx with a private configuration; like
#               apache2, where services start on install the package also
#               starts Debian's default site on port 80, which no test
#               uses), caddy (the same endpoint behind Caddy's forward_auth:
#               the test runs /usr/bin/caddy with a private configuration,
#               no admin endpoint and storage in its temp dir; where
#               services start on install the package also starts
#               Debian's caddy.service on port 80, which no test uses),
#               faketime (tests/e2e/keylife.sh runs the tool on an injected
#               clock), systemd (systemd-analyze verify of the shipped
#               units: tests/daemon/systemd.sh; nothing is started).
#               openssh-server, for the sshd
#               test, is not installed here (it starts an SSH server); CI
#               installs it.
# Environment:
#   LK_SKIP_APT=1       install nothing (the packages are there already, or
#                       you have no root): only autoreconf, configure, make;
#   LK_NO_TEST_DEPS=1   install BUILD_DEPS only.
set -e
cd "$(dirname "$0")"
BUILD_DEPS="build-essential autoconf automake libtool pkg-config libsodium-dev liblmdb-dev \
libyaml-dev libjson-c-dev libcmocka-dev libpam0g-dev mosquitto-dev libmosquitto-dev libpq-dev apache2-dev \
libmicrohttpd-dev nginx-dev libcurl4-openssl-dev"
TEST_DEPS="pamtester libpam-wrapper libpam-modules mosquitto mosquitto-clients \
openssh-client db-util mandoc bash-completion postgresql apache2 curl wrk dovecot-imapd nginx caddy \
faketime systemd chromium chromium-driver python3-selenium firefox-esr python3-websocket strace"
if [ "${LK_SKIP_APT:-}" != 1 ]; then
    DEPS=$BUILD_DEPS
    [ "${LK_NO_TEST_DEPS:-}" = 1 ] || DEPS="$DEPS $TEST_DEPS"
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $DEPS
fi
autoreconf -fi
./configure --enable-werror "$@"
make -j"$(nproc)"
