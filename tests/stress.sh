#!/usr/bin/env bash
# The README's test command, three times in a row on a fresh clone, with two CPU-burning processes
# competing for the machine the whole time. Every run must pass: a test that depends on the machine's
# speed fails here first. Usage: tests/stress.sh [RUNS] (default 3), or `make stress`.
set -euo pipefail
runs=${1:-3}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/autograd-stress-XXXXXX")
burners=()

stop_burners() {
    for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${burners[@]}"; do wait "$pid" 2>/dev/null || true; done
    burners=()
}
trap 'stop_burners; rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/clone"
echo "stress: fresh clone of $(git -C "$work/clone" rev-parse --short HEAD) in $work/clone"
for _ in 1 2; do
    python3 -c 'while True: pass' &
    burners+=("$!")
done
echo "stress: CPU burners ${burners[*]} on $(nproc) cores"

failed=0
for i in $(seq 1 "$runs"); do
    start=$(date +%s)
    if make -C "$work/clone" test > "$work/run-$i.log" 2>&1; then status=passed; else status=FAILED; failed=1; fi
    seconds=$(( $(date +%s) - start ))
    summary=$(grep -E '^=+ .*(passed|failed|error).* in .*=+$' "$work/run-$i.log" | tail -n 1 || true)
    echo "stress: run $i/$runs $status in ${seconds} s: ${summary:-no pytest summary}"
    if [ "$status" = FAILED ]; then
        grep -E '^(FAILED|ERROR) ' "$work/run-$i.log" || tail -n 40 "$work/run-$i.log"
        cp "$work/run-$i.log" "${TMPDIR:-/tmp}/autograd-stress-run-$i.log"
        echo "stress: full log kept in ${TMPDIR:-/tmp}/autograd-stress-run-$i.log"
    fi
done
stop_burners
exit "$failed"
