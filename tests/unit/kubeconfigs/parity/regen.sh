#!/bin/sh
# Writes kubectl's reading of every kubeconfig of this corpus into
# NAME.yaml.kubectl: `kubectl config view --raw --minify --flatten`, or its
# error.  test_kubeconfig compares podfs's reading of NAME.yaml with its
# reading of that output (and, when kubectl is installed, checks that these
# files are what kubectl prints today).  Run after adding a case.
cd "$(dirname "$0")" || exit 1
KUBECTL=${KUBECTL:-kubectl}
for f in *.yaml; do
	"$KUBECTL" --kubeconfig "$f" config view --raw --minify --flatten >"$f.kubectl" 2>&1
done
