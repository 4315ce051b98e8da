#!/usr/bin/env bash
# Classifies example sentences with the bundled default model and prints its measured speed
# against the dense f32 baseline, both timed here in one run.
#   scripts/demo.sh [MODEL [BASELINE]]
set -euo pipefail
cd "$(dirname "$0")/.."
SPARQ=build/sparq
MODEL="${1:-models/sst2-default}"
BASE="${2:-models/sst2-dense}"
PREC="${SPARQ_DEMO_PRECISION:-}"
if [ ! -d "$MODEL" ]; then
    echo "demo: $MODEL not found; using the tiny test models (random weights: labels are meaningless)" >&2
    MODEL=tests/fixtures/tiny_sparse
    BASE=tests/fixtures/tiny_cls
fi
[ -z "$PREC" ] && grep -q quantization_config "$MODEL/config.json" && PREC=int8
PREC="${PREC:-f32}"

echo "== sparq classify $MODEL (precision $PREC)"
"$SPARQ" classify "$MODEL" --precision "$PREC" --threads 1 \
    "a gripping , beautifully acted film ." \
    "the plot is thin and the jokes fall flat ." \
    "not the worst movie of the year , but close ." \
    "an unexpectedly moving story about friendship ."

median() { sed -n 's/.*"median_ms":\([0-9.eE+-]*\).*/\1/p'; }
SHAPE=(--batch 8 --seq 64 --threads 1 --warmup-s 0.3 --target-s 1 --json)
echo "== speed, batch 8 x seq 64, 1 thread"
base_ms=$("$SPARQ" bench "$BASE" "${SHAPE[@]}" --kernels dense --precision f32 | median)
model_ms=$("$SPARQ" bench "$MODEL" "${SHAPE[@]}" --kernels auto --precision "$PREC" | median)
awk -v b="$base_ms" -v m="$model_ms" -v bn="$BASE" -v mn="$MODEL" -v p="$PREC" 'BEGIN {
    printf "dense f32 %-28s %8.2f ms\n", bn, b
    printf "sparq     %-28s %8.2f ms (%s, planner kernels)\n", mn, m, p
    printf "speedup over dense f32: %.2fx\n", b / m }'
