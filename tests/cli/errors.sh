#!/usr/bin/env bash
# Every bad input ends as exactly one line "sparq: error: ..." on stderr, nothing on stdout, exit
# code 2 for a bad command line and 1 for bad data (never a crash or a stack trace).
set -uo pipefail
SPARQ="$1"; SRC="$2"
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
fails=0

expect() {  # expect CODE DESCRIPTION -- command... (stdin from $STDIN_FILE if set)
  local want="$1" what="$2"; shift 3
  local code
  if [ -n "${STDIN_FILE:-}" ]; then "$@" < "$STDIN_FILE" > "$TMP/out" 2> "$TMP/err"; code=$?
  else "$@" < /dev/null > "$TMP/out" 2> "$TMP/err"; code=$?; fi
  local lines; lines=$(wc -l < "$TMP/err")
  if [ "$code" != "$want" ] || [ "$lines" != 1 ] || ! grep -q '^sparq: error: ' "$TMP/err" || [ -s "$TMP/out" ]; then
    echo "FAIL ($what): exit $code (want $want), stderr $lines line(s):"; cat "$TMP/err"; head -c 300 "$TMP/out"
    fails=$((fails + 1))
  fi
}

# Malformed models.
mkdir -p "$TMP/badjson" "$TMP/trunc" "$TMP/empty" "$TMP/noweights" "$TMP/badshape"
echo '{"hidden_size": ' > "$TMP/badjson/config.json"
cp "$FIX/tiny_cls/vocab.txt" "$FIX/tiny_cls/config.json" "$TMP/trunc/"
head -c 1000 "$FIX/tiny_cls/model.safetensors" > "$TMP/trunc/model.safetensors"
cp "$FIX/tiny_cls/config.json" "$FIX/tiny_cls/vocab.txt" "$TMP/noweights/"
cp "$FIX/tiny_cls/model.safetensors" "$FIX/tiny_cls/vocab.txt" "$TMP/badshape/"
sed 's/"hidden_size": 32/"hidden_size": 48/' "$FIX/tiny_cls/config.json" > "$TMP/badshape/config.json"
for m in badjson trunc empty noweights badshape; do
  expect 1 "embed $m" -- "$SPARQ" embed "$TMP/$m" "hello"
  expect 1 "inspect $m" -- "$SPARQ" inspect "$TMP/$m"
done
expect 1 "classify truncated" -- "$SPARQ" classify "$TMP/trunc" "hello"
expect 1 "prune truncated" -- "$SPARQ" prune "$TMP/trunc" "$TMP/o1" --sparsity 0.5
expect 1 "bench bad shape" -- "$SPARQ" bench "$TMP/badshape" --batch 1 --seq 8 --reps 1
expect 1 "missing model dir" -- "$SPARQ" tokenize "$TMP/nope" "hello"
expect 1 "model dir is a file" -- "$SPARQ" embed "$FIX/tiny_cls/config.json" "hello"
expect 1 "tokenizer missing" -- "$SPARQ" tokenize "$TMP/empty" "hello"

# Invalid UTF-8 from stdin, a file and an argument.
printf 'fine\n\xff\xfe bad\n' > "$TMP/bad.txt"
STDIN_FILE="$TMP/bad.txt" expect 1 "utf8 stdin" -- "$SPARQ" tokenize "$FIX/tiny_cls"
grep -q "line 2" "$TMP/err" || { echo "FAIL: utf8 error does not name line 2"; cat "$TMP/err"; fails=$((fails + 1)); }
expect 1 "utf8 file" -- "$SPARQ" embed "$FIX/tiny_base" --file "$TMP/bad.txt"
expect 1 "utf8 arg" -- "$SPARQ" classify "$FIX/tiny_cls" "$(printf 'abc\xc3')"
expect 1 "utf8 pair" -- "$SPARQ" tokenize "$FIX/tiny_cls" "abc" --pair "$(printf '\xff')"
expect 1 "missing --file" -- "$SPARQ" tokenize "$FIX/tiny_cls" --file "$TMP/nope.txt"

# Command-line errors (exit 2).
expect 2 "no subcommand" -- "$SPARQ"
expect 2 "unknown subcommand" -- "$SPARQ" frobnicate
expect 2 "unknown flag" -- "$SPARQ" embed "$FIX/tiny_base" --no-such-flag x
expect 2 "missing model arg" -- "$SPARQ" inspect
expect 2 "batch 0" -- "$SPARQ" bench "$FIX/tiny_base" --batch 0 --seq 8
expect 2 "batch not a number" -- "$SPARQ" bench "$FIX/tiny_base" --batch x --seq 8
expect 2 "threads 0" -- "$SPARQ" embed "$FIX/tiny_base" --threads 0 hello
expect 2 "sparsity 1.5" -- "$SPARQ" prune "$FIX/tiny_cls" "$TMP/o2" --sparsity 1.5
expect 2 "sparsity missing" -- "$SPARQ" prune "$FIX/tiny_cls" "$TMP/o3"
expect 2 "bad pattern" -- "$SPARQ" prune "$FIX/tiny_cls" "$TMP/o4" --sparsity 0.5 --pattern 2x2
expect 2 "bad override" -- "$SPARQ" prune "$FIX/tiny_cls" "$TMP/o5" --sparsity 0.5 --override 'layer=abc'
expect 2 "normalize without pooling" -- "$SPARQ" embed "$FIX/tiny_base" --pooling none --normalize hello
expect 2 "bad pooling" -- "$SPARQ" embed "$FIX/tiny_base" --pooling median hello
expect 2 "bad kernels" -- "$SPARQ" bench "$FIX/tiny_base" --kernels fast
expect 2 "warmup and warmup-s" -- "$SPARQ" bench "$FIX/tiny_base" --warmup 1 --warmup-s 1
expect 2 "seq beyond positions" -- "$SPARQ" bench "$FIX/tiny_base" --seq 4096 --reps 1
expect 2 "args and --file" -- "$SPARQ" tokenize "$FIX/tiny_cls" hello --file "$TMP/bad.txt"
expect 2 "question without context" -- "$SPARQ" classify "$FIX/tiny_qa" --question "who ?"
expect 2 "qa model without question" -- "$SPARQ" classify "$FIX/tiny_qa" "hello"
expect 2 "peer-bench bad shape" -- "$SPARQ" peer-bench --variant f32 --model-dir "$FIX/tiny_base" --inputs "$TMP" --shapes 1y8

# Requests the model cannot serve, data problems (exit 1).
expect 1 "classify on a base model" -- "$SPARQ" classify "$FIX/tiny_base" "hello"
expect 1 "question on a classifier" -- "$SPARQ" classify "$FIX/tiny_cls" --question "who ?" --context "me"
expect 1 "override matching nothing" -- "$SPARQ" prune "$FIX/tiny_cls" "$TMP/o6" --sparsity 0.5 --override 'nothing=0.1'
expect 1 "peer-bench missing inputs" -- "$SPARQ" peer-bench --variant f32 --model-dir "$FIX/tiny_base" --inputs "$TMP/nope" --shapes 1x8

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "errors: ok"
