#!/usr/bin/env bash
# Runs the peers harness (ONNX Runtime, PyTorch) with sparq plugged in as external engines, so
# one table compares them on the same model files and inputs (see docs/cli.md, "peer-bench").
#
#   bench/run_peers_sparq.sh --small --quick --shapes 1x128 --threads 1 --engines ort-fp32
#   bench/run_peers_sparq.sh --sparsities "0 0.9" --threads "1 2"          # BERT-base
#
# Own options (everything else goes to run_peers.sh; see `run_peers.sh --help`):
#   --build DIR       sparq build directory holding the `sparq` binary [$SPARQ_BUILD or ./build]
#   --peers PATH      run_peers.sh [$PEERS_RUN or ../shared/tools/peers/run_peers.sh]
#   --variants LIST   comma separated, from: f32 (dense kernels), sparse (planner's choice,
#                     --kernels auto), int8 (dense int8), int8-sparse (int8, --kernels auto)
#                     [f32,sparse + int8,int8-sparse when the build plans int8 kernels]
# Engines are named sparq-VARIANT and run as `sparq peer-bench --variant VARIANT ...`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="${SPARQ_BUILD:-$ROOT/build}"
PEERS="${PEERS_RUN:-$ROOT/../shared/tools/peers/run_peers.sh}"
[ -f "$PEERS" ] || PEERS=/work/shared/tools/peers/run_peers.sh
VARIANTS=""
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2;;
    --peers) PEERS="$2"; shift 2;;
    --variants) VARIANTS="$2"; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0;;
    *) PASS+=("$1"); shift;;
  esac
done
SPARQ="$BUILD/sparq"
[ -x "$SPARQ" ] || { echo "run_peers_sparq: $SPARQ not found (build with scripts/build.sh or pass --build)" >&2; exit 1; }
[ -f "$PEERS" ] || { echo "run_peers_sparq: peers harness $PEERS not found (pass --peers)" >&2; exit 1; }

if [ -z "$VARIANTS" ]; then
  VARIANTS=f32,sparse
  # int8 only when the planner really builds int8 kernels (names like dense_s8_*, spmm_s8_*).
  if "$SPARQ" inspect "$ROOT/tests/fixtures/tiny_base" --plan --precision int8 --kernels dense --threads 1 2>/dev/null |
      sed -n '/^kernel plan/,$p' | grep -Eq '_(s8|u8s8|int8)'; then
    VARIANTS="$VARIANTS,int8,int8-sparse"
  else
    echo "run_peers_sparq: this build plans no int8 kernels; timing f32 and sparse only" >&2
  fi
fi

ENGINES=()
for v in ${VARIANTS//,/ }; do
  case "$v" in
    f32)         args="--kernels dense --precision f32";;
    sparse)      args="--kernels auto --precision f32";;
    int8)        args="--kernels dense --precision int8";;
    int8-sparse) args="--kernels auto --precision int8";;
    *) echo "run_peers_sparq: unknown variant '$v' (f32, sparse, int8, int8-sparse)" >&2; exit 2;;
  esac
  ENGINES+=(--engine "sparq-$v=$SPARQ peer-bench --variant $v $args")
done
exec bash "$PEERS" "${ENGINES[@]}" "${PASS[@]}"
