#!/bin/sh
# The long fuzzing runs recorded in docs/reliability.md: each target for
# RUNS executions (default 10 million) or MAXTIME seconds, whichever ends
# first, on a scratch copy of its corpus; then the findings are minimised
# back into tests/fuzz/corpus/<target>/ with -merge=1.  Arguments name the
# targets (default: all); run two at once on two cores.  Needs
# `make fuzz-build` first.  Prints one figure line per target.
cd "$(dirname "$0")/../.." || exit 1
RUNS=${RUNS:-10000000}
MAXTIME=${MAXTIME:-3600}
W=build/fuzz/work
targets=${*:-"wsframe channel status podlist kubeconfig path"}
for t in $targets; do
	b=build/fuzz/fuzz_$t
	[ -x "$b" ] || { echo "$b: not built (make fuzz-build)"; exit 1; }
	mkdir -p "$W/$t" "tests/fuzz/corpus/fuzz_$t"
	start=$(date +%s)
	"$b" -runs="$RUNS" -max_total_time="$MAXTIME" -print_final_stats=1 \
	     -artifact_prefix="$W/$t-" "$W/$t" "tests/fuzz/corpus/fuzz_$t" \
	     >"$W/$t.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$t.log")
	# Keep the corpus small: only inputs that add coverage go in.
	"$b" -merge=1 "tests/fuzz/corpus/fuzz_$t" "$W/$t" >"$W/$t.merge.log" 2>&1
	echo "fuzz_$t: exit $rc, $execs executions in $secs s, corpus $(ls "tests/fuzz/corpus/fuzz_$t" | wc -l) files"
done
