#!/bin/sh
# Install the Debian build dependencies (when run as root or with sudo), then
# configure and build. Usage: ./bootstrap.sh [configure options]
set -e
cd "$(dirname "$0")"
DEPS="build-essential autoconf automake libtool pkg-config libsodium-dev liblmdb-dev \
libyaml-dev libcmocka-dev libpam0g-dev pamtester libpam-wrapper libpam-modules \
mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients db-util"
if [ "${LK_SKIP_APT:-}" != 1 ]; then
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $DEPS
fi
autoreconf -fi
./configure --enable-werror "$@"
make -j"$(nproc)"
