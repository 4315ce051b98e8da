#!/usr/bin/env bash
# --attention auto|f32|int8: a bad value is a one-line usage error (exit 2) on every command that
# takes it; inspect --plan prints one line saying which attention runs and why (and one for the
# TFM hidden-state layout of sparse int8 models).
set -uo pipefail
SPARQ="$1"; SRC="$2"
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
fails=0

expect_usage() {  # expect_usage DESCRIPTION -- command...
  local what="$1"; shift 2
  "$@" < /dev/null > "$TMP/out" 2> "$TMP/err"; local code=$?
  local lines; lines=$(wc -l < "$TMP/err")
  if [ "$code" != 2 ] || [ "$lines" != 1 ] || ! grep -q 'attention' "$TMP/err" || [ -s "$TMP/out" ]; then
    echo "FAIL ($what): exit $code (want 2), stderr $lines line(s):"; cat "$TMP/err"
    fails=$((fails + 1))
  fi
}

M="$FIX/tiny_cls"
expect_usage "bench" -- "$SPARQ" bench "$M" --batch 1 --seq 8 --reps 1 --attention bogus
expect_usage "embed" -- "$SPARQ" embed "$M" hello --attention bogus
expect_usage "classify" -- "$SPARQ" classify "$M" hello --attention bogus
expect_usage "inspect" -- "$SPARQ" inspect "$M" --plan --attention bogus
expect_usage "compare" -- "$SPARQ" compare "$M" "$M" hello --attention-b bogus

plan_line() {  # plan_line ARGS...: the attention line of inspect --plan
  "$SPARQ" inspect "$M" --plan "$@" | grep '^attention  '
}
check_plan() {  # check_plan PATTERN ARGS...
  local want="$1"; shift
  local got; got=$(plan_line "$@")
  if [ "$(printf '%s\n' "$got" | grep -c .)" != 1 ] || ! grep -q -- "$want" <<<"$got"; then
    echo "FAIL (inspect --plan $*): expected one line matching '$want', got: $got"
    fails=$((fails + 1))
  fi
}
check_plan '^attention  f32  (auto: f32 model'
check_plan '^attention  f32  (requested' --precision int8 --attention f32
if grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null; then
  check_plan '^attention  int8  attention_s8_[a-z]*  (auto: int8 model' --precision int8 --kernels dense
  SPARQ_MAX_ISA=avx512_vnni check_plan '^attention  int8  attention_s8_vnni  (auto: int8 model, AVX512-VNNI)' \
    --precision int8 --kernels dense
  SPARQ_MAX_ISA=avx512 check_plan '^attention  f32  (attention int8: int8 attention needs AVX512-VNNI' \
    --precision int8 --attention int8 --kernels dense
fi

# The hidden-state layout line: TFM only when every encoder linear is sparse int8 on AVX-512 with
# int8 attention (tiny_sparse, forced sparse int8), absent for dense int8 or f32.
tfm_lines() { "$SPARQ" inspect "$FIX/tiny_sparse" --plan "$@" | grep -c '^hidden states  TFM'; }
if grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null; then
  [ "$(tfm_lines --precision int8 --kernels sparse)" = 1 ] || { echo "FAIL: no TFM line for sparse int8"; fails=$((fails + 1)); }
  [ "$(SPARQ_NO_TFM=1 tfm_lines --precision int8 --kernels sparse)" = 0 ] || { echo "FAIL: TFM line with SPARQ_NO_TFM=1"; fails=$((fails + 1)); }
fi
# Int8 Q/K from the QKV kernel: TFM layers, AMX attention and heads of 16/32/64 (the bundled
# model's 64; the fixtures' heads of 8 never take it); not under SPARQ_NO_QK8=1 or a VNNI cap.
qk8_lines() { "$SPARQ" inspect "$SRC/models/sst2-default" --plan | grep -c '^query/key  int8 from the QKV kernel'; }
if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null && grep -qw avx512_vnni /proc/cpuinfo; then
  [ "$(qk8_lines)" = 1 ] || { echo "FAIL: no query/key int8 line on AMX"; fails=$((fails + 1)); }
fi
[ "$(SPARQ_NO_QK8=1 qk8_lines)" = 0 ] || { echo "FAIL: query/key int8 line with SPARQ_NO_QK8=1"; fails=$((fails + 1)); }
[ "$(SPARQ_MAX_ISA=avx512_vnni qk8_lines)" = 0 ] || { echo "FAIL: query/key int8 line without AMX"; fails=$((fails + 1)); }
[ "$(tfm_lines --precision int8 --kernels dense)" = 0 ] || { echo "FAIL: TFM line for dense int8"; fails=$((fails + 1)); }
[ "$(tfm_lines)" = 0 ] || { echo "FAIL: TFM line for f32"; fails=$((fails + 1)); }

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "attention CLI: ok"
