#!/usr/bin/env bash
# Reproduces the SST-2 models: vocab (sparq vocab build), tokenized ids (sparq tokenize),
# optional masked-LM pre-training, dense fine-tuning, gradually pruned variants.
#   tools/train/run_all.sh OUT [--quick] [--jobs N] [--variants "90:unstructured 90:1x4 ..."]
#                              [--mlm-epochs E] [--epochs E] [--prune-epochs E]
#                              [--hidden H] [--layers L]
# --hidden H: model width (default 128; heads H/64, intermediate 4H); --layers L (default 4).
# --quick: 3,000 rows, a 2x64 model, a few dozen steps, two pruned variants (unless --variants).
# Everything runs under nice -n 19 with one PyTorch thread per process; --jobs runs that many
# pruning variants at once. Logs: OUT/*.log; stage times: OUT/times.tsv.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
OUT="${1:?usage: run_all.sh OUT [--quick] [--jobs N] [--variants LIST]}"; shift
QUICK=0; JOBS=1; VARIANTS_SET=0
VARIANTS="90:unstructured 90:1x4 95:unstructured 80:unstructured 70:unstructured 50:unstructured 95:1x4 80:1x4 70:1x4 50:1x4"
MLM_EPOCHS=""; EPOCHS=""; PRUNE_EPOCHS=""; HIDDEN=128; LAYERS=4
SPARQ="${SPARQ:-$SRC/build/sparq}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --jobs) JOBS="$2"; shift ;;
    --variants) VARIANTS="$2"; VARIANTS_SET=1; shift ;;
    --mlm-epochs) MLM_EPOCHS="$2"; shift ;;
    --epochs) EPOCHS="$2"; shift ;;
    --prune-epochs) PRUNE_EPOCHS="$2"; shift ;;
    --hidden) HIDDEN="$2"; shift ;;
    --layers) LAYERS="$2"; shift ;;
    *) echo "run_all.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$SPARQ" ] || { echo "run_all.sh: no sparq binary at $SPARQ (build first or set SPARQ)" >&2; exit 1; }
mkdir -p "$OUT"
T="$PY $HERE/train_sst2.py"
RUN="nice -n 19"

if [ "$QUICK" = 1 ]; then
  PREP="--limit 3000 --vocab-size 1500"
  MODEL="--layers 2 --hidden 64 --heads 2 --intermediate 128"
  MLM="--steps 20"; FT="--steps 60 --lr 1e-3"; PR="--steps 30 --prune-every 5"
  LOGE="--log-every 10"
  [ "$VARIANTS_SET" = 1 ] || VARIANTS="90:unstructured 90:1x4"
else
  PREP="--vocab-size 8000"
  case "$HIDDEN" in ''|*[!0-9]*) echo "run_all.sh: --hidden expects a multiple of 64, got '$HIDDEN'" >&2; exit 2 ;; esac
  [ $((HIDDEN % 64)) = 0 ] && [ "$HIDDEN" -gt 0 ] || { echo "run_all.sh: --hidden expects a multiple of 64, got '$HIDDEN'" >&2; exit 2; }
  MODEL="--layers $LAYERS --hidden $HIDDEN --heads $((HIDDEN / 64)) --intermediate $((4 * HIDDEN))"
  MLM="--epochs ${MLM_EPOCHS:-0}"; FT="--epochs ${EPOCHS:-3} --eval-every 525"; PR="--epochs ${PRUNE_EPOCHS:-0.6}"
  LOGE="--log-every 100"
fi

echo -e "stage\tseconds" > "$OUT/times.tsv"
stage() {  # stage NAME COMMAND...: runs with output to OUT/NAME.log, records the wall time
  local name="$1"; shift
  local t0; t0=$(date +%s)
  echo "[$(date -u +%H:%M:%S)] $name" >&2
  if ! "$@" > "$OUT/$name.log" 2>&1; then
    echo "run_all.sh: stage $name failed, see $OUT/$name.log:" >&2; tail -5 "$OUT/$name.log" >&2; return 1
  fi
  echo -e "$name\t$(( $(date +%s) - t0 ))" >> "$OUT/times.tsv"
}

T_ALL=$(date +%s)
stage prep $RUN $T prep --out "$OUT" --sparq "$SPARQ" $PREP
if [ "$QUICK" = 1 ] || [ "${MLM_EPOCHS:-0}" != 0 ]; then
  stage pretrain $RUN $T pretrain --out "$OUT" $MODEL $MLM $LOGE
else
  rm -f "$OUT/mlm.pt"
fi
stage finetune $RUN $T finetune --out "$OUT" $MODEL $FT $LOGE
stage teacher $RUN $T teacher --out "$OUT"

pids=()
for v in $VARIANTS; do
  s="${v%%:*}"; pat="${v##*:}"
  sp=$(awk -v s="$s" 'BEGIN { printf "%.2f", s / 100 }')
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  stage "prune-$pat-$s" $RUN $T prune --out "$OUT" --sparsity "$sp" --pattern "$pat" $PR $LOGE &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
echo -e "total\t$(( $(date +%s) - T_ALL ))" >> "$OUT/times.tsv"

# sparq must reproduce every model's Python dev predictions (label and probability within 1e-5).
: > "$OUT/check_sparq.log"
for d in "$OUT"/sst2-*/; do
  [ -f "$d/dev_predictions.jsonl" ] || continue
  $RUN $PY "$HERE/check_sparq.py" "$SPARQ" "$OUT" "${d%/}" >> "$OUT/check_sparq.log" 2>&1 || fail=1
done
cat "$OUT/check_sparq.log"
$PY "$HERE/summary.py" "$OUT" | tee "$OUT/summary.md"
exit $fail
