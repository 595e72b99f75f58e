#!/bin/sh
# `make demo`: start the bundled fixture cluster, mount it at ./mnt with
# podfs and show a short tour; everything keeps running until
# `make demo-stop`.
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
STATE=$ROOT/.demo
MNT=$ROOT/mnt
PY=/usr/bin/python3

stop() {
	if grep -qs " $MNT " /proc/mounts; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
	if [ -f "$STATE/server.pid" ]; then
		kill "$(cat "$STATE/server.pid")" 2>/dev/null
		i=0
		while [ -f "$STATE/server.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	fi
	rm -rf "$STATE"
	rmdir "$MNT" 2>/dev/null
	return 0
}

show() {	# show CMD...: print the command, then run it
	printf '\n$ %s\n' "$*"
	sh -c "$*"
}

start() {
	stop
	mkdir -p "$STATE" "$MNT"
	$PY tests/fixture/server.py --state "$STATE" --synthetic big:2000 \
		>"$STATE/ready" 2>"$STATE/fixture.err" </dev/null &
	i=0
	until grep -q '^ready ' "$STATE/ready" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "demo: the fixture cluster did not start:" >&2
			tail -n 20 "$STATE/fixture.err" >&2
			exit 1
		fi
		sleep 0.1
	done
	./podfs --kubeconfig "$STATE/kubeconfig" "$MNT" || { echo "demo: mount failed" >&2; exit 1; }
	echo "podfs: the fixture cluster ($(cut -d' ' -f2 "$STATE/ready")) is mounted at ./mnt"
	cd "$MNT" || exit 1
	show ls
	show ls demo
	show cat .podfs/status
	show cat demo/web/Status
	show cat demo/web/web/log
	show "ls big | wc -l"
	show "timeout 2 cat demo/ticker/ticker/stdout"
	show "echo hello from stdin > demo/echo/echo/stdin; sleep 1; tail -n 1 demo/echo/echo/log"
	if [ -e demo/echo/echo/exec/new ]; then
		printf '\n$ s=demo/web/web/exec/$(cat demo/web/web/exec/new)\n'
		s=demo/web/web/exec/$(cat demo/web/web/exec/new)
		show "printf '%s\n' sh -c 'uname -s; echo exit code follows; exit 3' > $s/argv; echo start > $s/ctl"
		show "cat $s/stdout; cat $s/exitcode"
	fi
	printf '\nThe cluster and the mount keep running: explore ./mnt, then `make demo-stop`.\n'
}

case "$1" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
