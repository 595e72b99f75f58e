#!/bin/sh
# A client.authentication.k8s.io credential plugin for the auth tests: prints
# the token in $CRED_DIR/token (with an expiry $CRED_DIR/ttl seconds ahead
# when that file exists), counts its runs in $CRED_DIR/runs and keeps the
# KUBERNETES_EXEC_INFO it was given in $CRED_DIR/exec_info.
# $1: the apiVersion to answer with.
d=${CRED_DIR:?}
n=$(cat "$d/runs" 2>/dev/null || echo 0)
echo $((n + 1)) > "$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/exec_info"
exp=""
if [ -s "$d/ttl" ]; then
	exp=$(date -u -d "+$(cat "$d/ttl") seconds" +%Y-%m-%dT%H:%M:%SZ)
	exp=",\"expirationTimestamp\":\"$exp\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}\n' \
	"$1" "$(cat "$d/token")" "$exp"
