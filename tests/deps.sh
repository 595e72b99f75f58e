#!/bin/sh
# Installs the Debian packages that the build, the tests and the fixture need,
# but only when one is missing, so `make check` stays quick on a ready machine.
pkgs="libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev
libwslay-dev pkg-config openssl curl socat procps python3 make gcc man-db groff-base"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "podfs: installing$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || { echo "podfs: apt-get update failed" >&2; exit 1; }
$SUDO apt-get install -y -q $missing >/dev/null || { echo "podfs: apt-get install$missing failed" >&2; exit 1; }
