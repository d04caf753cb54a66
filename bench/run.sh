#!/usr/bin/env bash
# Runs every benchmark scenario bench/*.sh (all but lib.sh and run.sh), one
# after the other, and prints their output. `make bench` calls it.
#
#   bench/run.sh               every scenario
#   bench/run.sh health ...    only the named scenarios (bench/health.sh, ...)
#
# All rows of one run share BENCH_RUN_ID in bench/results/results.tsv. Each
# scenario is bounded by BENCH_SCENARIO_TIMEOUT (default 1800 s) on top of the
# bounds of each load. Exits non-zero if a scenario failed; a speed goal that
# is not met is reported, not a failure.
set -uo pipefail

dir="$(cd "$(dirname "$0")" && pwd)"
cd "$dir/.." || exit 1
BENCH_RUN_ID="${BENCH_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
export BENCH_RUN_ID

scenarios=()
if [ $# -gt 0 ]; then
    for name in "$@"; do
        name="${name%.sh}"
        name="${name##*/}"
        [ -f "$dir/$name.sh" ] || {
            echo "run.sh: no scenario bench/$name.sh" >&2
            exit 2
        }
        scenarios+=("$dir/$name.sh")
    done
else
    for f in "$dir"/*.sh; do
        case "${f##*/}" in lib.sh | run.sh) continue ;; esac
        scenarios+=("$f")
    done
fi
[ ${#scenarios[@]} -gt 0 ] || {
    echo "run.sh: no scenarios in bench/" >&2
    exit 2
}

child=""
on_signal() {
    # Stop the running scenario (it stops its own servers on exit), by PID.
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
    [ -n "$child" ] && wait "$child" 2>/dev/null
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

failed=()
echo "bench run $BENCH_RUN_ID: ${#scenarios[@]} scenario(s): $(for f in "${scenarios[@]}"; do printf '%s ' "$(basename "$f" .sh)"; done)"
for f in "${scenarios[@]}"; do
    name="$(basename "$f" .sh)"
    echo
    echo "################ $name ################"
    start=$SECONDS
    timeout -k 30 "${BENCH_SCENARIO_TIMEOUT:-1800}" bash "$f" 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=""
    echo "################ $name: exit $rc, $((SECONDS - start)) s ################"
    [ "$rc" -eq 0 ] || failed+=("$name")
done

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench run $BENCH_RUN_ID: failed: ${failed[*]}"
    exit 1
fi
echo "bench run $BENCH_RUN_ID: all ${#scenarios[@]} scenario(s) finished; rows in ${BENCH_RESULTS_DIR:-bench/results}/results.tsv"
