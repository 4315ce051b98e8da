#!/usr/bin/env bash
# Threads that outnumber the free cores: N `sparq bench` processes side by side, each with T
# threads, under each OpenMP wait policy in turn (docs/cli.md, Waiting; docs/benchmarks.md run 25).
# Prints each process's median and p90 latency per policy and round.
#
#   bench/run_contention.sh MODEL [--procs N] [--rounds R] [--spins "300000 1000"] [bench options]
#
# Defaults: 2 processes, 3 rounds, GOMP_SPINCOUNT 300000 (libgomp's default) and 1000 (sparq's),
# and `-b 1 -s 128 --threads 2 --target-s 2` for the bench options.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SPARQ="${SPARQ:-$HERE/../build/sparq}"
[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }
MODEL="$1"; shift
PROCS=2; ROUNDS=3; SPINS="300000 1000"; ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --procs) PROCS="$2"; shift 2;;
    --rounds) ROUNDS="$2"; shift 2;;
    --spins) SPINS="$2"; shift 2;;
    *) ARGS+=("$1"); shift;;
  esac
done
[ ${#ARGS[@]} -gt 0 ] || ARGS=(-b 1 -s 128 --threads 2 --target-s 2)
[ -x "$SPARQ" ] || { echo "run_contention: $SPARQ not found (set SPARQ=...)" >&2; exit 1; }
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
echo "model $MODEL, $PROCS processes side by side, bench ${ARGS[*]}"
for r in $(seq "$ROUNDS"); do
  for spin in $SPINS; do
    for p in $(seq "$PROCS"); do
      GOMP_SPINCOUNT=$spin "$SPARQ" bench "$MODEL" "${ARGS[@]}" > "$TMP/$p.out" 2>&1 &
    done
    wait
    line="round $r  GOMP_SPINCOUNT=$spin:"
    for p in $(seq "$PROCS"); do
      line+=$(awk '/^latency/{printf "  median %s p90 %s ms", $3, $9}' "$TMP/$p.out")
    done
    echo "$line"
  done
done
