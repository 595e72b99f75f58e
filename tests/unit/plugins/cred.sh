#!/bin/sh
# A stand-in exec credential plugin for test_auth.  What it does is chosen
# by variables the test sets through the kubeconfig's exec.env:
#   COUNT_FILE  counts the runs (one line, the number)
#   INFO_FILE   receives $KUBERNETES_EXEC_INFO
#   MODE        token (default) | alternate (odd runs "stale-token", even
#               runs TOKEN) | file (print OUT_FILE) | fail | failblank
#               (aws-cli style: blank lines before the message) | hang
#   TOKEN, EXPIRY (RFC 3339, empty = none), VERSION (the apiVersion printed),
#   SLEEP (seconds before answering)
n=0
if [ -n "$COUNT_FILE" ]; then
	[ -f "$COUNT_FILE" ] && n=$(cat "$COUNT_FILE")
	n=$((n + 1))
	echo "$n" >"$COUNT_FILE"
fi
[ -n "$INFO_FILE" ] && printf '%s' "$KUBERNETES_EXEC_INFO" >"$INFO_FILE"
[ -n "$SLEEP" ] && sleep "$SLEEP"
ver=${VERSION:-client.authentication.k8s.io/v1}
tok=${TOKEN:-tok-$n}
exp=""
[ -n "$EXPIRY" ] && exp=",\"expirationTimestamp\":\"$EXPIRY\""
case "$MODE" in
fail)
	echo "error: not logged in: run 'cred login' first" >&2
	echo "more detail" >&2
	exit 3 ;;
failblank)
	printf '\n  \nAn error occurred (ExpiredToken) when calling GetToken\nsecond\n' >&2
	exit 255 ;;
hang)
	sleep 30
	exit 0 ;;
file)
	cat "$OUT_FILE"
	exit 0 ;;
alternate)
	[ $((n % 2)) -eq 1 ] && tok=stale-token ;;
esac
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}\n' "$ver" "$tok" "$exp"
