#!/usr/bin/env bash
# Adversarial inputs (beyond errors.sh): corrupted model files, configs and vocabularies, odd text
# files and out-of-range arguments. Each bad case ends as one line "sparq: error: ..." naming the
# problem, nothing on stdout, exit 1 (bad data) or 2 (bad command line) within a time limit --
# never a crash, a hang or output from garbage. Inputs the documented rules accept (long texts are
# truncated, CRLF, NUL bytes, empty lines) give the same answers as their clean equivalents.
set -uo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'chmod -R u+w "$TMP"; rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect CODE PATTERN DESCRIPTION -- command...: exit CODE, one error line matching PATTERN.
expect() {
  local want="$1" pat="$2" what="$3"; shift 4
  local code
  timeout 20 "$@" < /dev/null > "$TMP/out" 2> "$TMP/err"; code=$?
  local lines; lines=$(wc -l < "$TMP/err")
  if [ "$code" != "$want" ] || [ "$lines" != 1 ] || ! grep -q '^sparq: error: ' "$TMP/err" ||
     ! grep -qE -- "$pat" "$TMP/err" || [ -s "$TMP/out" ]; then
    fail "$what: exit $code (want $want), stderr $lines line(s), want /$pat/:"
    cat "$TMP/err"; head -c 300 "$TMP/out"
  fi
}

# A model directory copied from tiny_cls, with its files then edited by the caller.
model() { rm -rf "$TMP/$1"; cp -r "$FIX/tiny_cls" "$TMP/$1"; echo "$TMP/$1"; }
ST="$FIX/tiny_cls/model.safetensors"
HLEN=$($PY -c 'import struct,sys; print(struct.unpack("<Q", open(sys.argv[1],"rb").read(8))[0])' "$ST")
SIZE=$(stat -c %s "$ST")
W=bert.encoder.layer.0.intermediate.dense.weight

# --- model.safetensors: truncated at every region (length prefix, header, data) ---------------
for cut in 0 5 8 9 $((HLEN / 2)) $((HLEN + 7)) $((HLEN + 8)) $((HLEN + 9)) $((SIZE / 2)) $((SIZE - 1)); do
  m=$(model trunc); head -c "$cut" "$ST" > "$m/model.safetensors"
  expect 1 'model.safetensors: (file is|header length|tensor .*lie outside)' "truncated at $cut" \
    -- "$SPARQ" classify "$m" hello
done
# Header rewritten by python: each edit breaks one rule of the format or of the model.
st_edit() {  # st_edit DIR PYTHON-STATEMENTS (h: header dict, d: data bytes, n: length override)
  $PY - "$ST" "$1/model.safetensors" "$2" <<'PYEOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n0 = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n0]); d = b[8 + n0:]; n = None; raw = None
W = "bert.encoder.layer.0.intermediate.dense.weight"
exec(sys.argv[3])
hb = raw if raw is not None else json.dumps(h).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb) if n is None else n) + hb + d)
PYEOF
}
st_case() {  # st_case PATTERN DESCRIPTION PYTHON
  local m; m=$(model st); st_edit "$m" "$3"
  expect 1 "$1" "safetensors $2" -- "$SPARQ" classify "$m" hello
}
st_case 'exceeds the 100 MB limit' "huge header length" 'n = 2**63'
st_case 'header is not valid JSON' "zero header length" 'n = 0'
st_case 'header must be a JSON object, found array' "header an array" 'raw = b"[1, 2]"'
st_case 'header is not valid JSON' "header cut inside" 'raw = json.dumps(h).encode()[:50]; d = b""'
st_case "data_offsets .* lie outside the data region" "offset past the data" \
  'h[W]["data_offsets"][1] = len(d) + 4'
st_case "'data_offsets' must be \[begin, end\]" "negative offset" 'h[W]["data_offsets"][0] = -4'
st_case "overlap tensor" "overlapping tensors" \
  'k = sorted(x for x in h if x != "__metadata__"); h[k[1]]["data_offsets"] = h[k[0]]["data_offsets"]; h[k[1]]["shape"] = h[k[0]]["shape"]; h[k[1]]["dtype"] = h[k[0]]["dtype"]'
st_case "hold [0-9]+ bytes but shape \[64, 16\] of F32 needs 4096" "offsets not matching shape" \
  'h[W]["shape"] = [64, 16]'
st_case "unsupported dtype 'F8_E4M3'" "unknown dtype" 'h[W]["dtype"] = "F8_E4M3"'
st_case "shape entries must be non-negative integers" "negative shape" 'h[W]["shape"] = [-64, 32]'
st_case "needs more than 2\^64" "shape product overflow" 'h[W]["shape"] = [2**62, 2**62]'
st_case "header names tensor '$W' twice" "duplicate tensor name" \
  'raw = json.dumps(h)[:-1].encode() + b", " + json.dumps(W).encode() + b": " + json.dumps(h[W]).encode() + b"}"'
st_case "missing tensor '$W'" "missing tensor" 'del h[W]'
st_case "tensor '$W': expected shape \[64, 32\], found \[32, 64\]" "transposed weight" \
  'h[W]["shape"] = [32, 64]'
st_case "I8 weights need a quantization_config" "I8 weight in an f32 model" \
  'e = h[W]; e["dtype"] = "I8"; e["data_offsets"][1] = e["data_offsets"][0] + 2048'
st_case "value nan at flat index 3 is not finite" "NaN weight" \
  'o = h[W]["data_offsets"][0] + 12; d = d[:o] + struct.pack("<f", float("nan")) + d[o + 4:]'
st_case "value inf at flat index 0 is not finite" "Inf weight" \
  'o = h[W]["data_offsets"][0]; d = d[:o] + struct.pack("<f", float("inf")) + d[o + 4:]'
# sparq prune edits the file byte-wise (its own reader): the same corruptions are refused there.
st_prune_case() {  # st_prune_case PATTERN DESCRIPTION PYTHON
  local m; m=$(model stp); st_edit "$m" "$3"; rm -rf "$TMP/stp_out"
  expect 1 "$1" "prune: safetensors $2" -- "$SPARQ" prune "$m" "$TMP/stp_out" --sparsity 0.5
  [ ! -e "$TMP/stp_out" ] || fail "prune: safetensors $2: wrote an output directory"
}
st_prune_case "header names tensor '$W' twice" "duplicate tensor name" \
  'raw = json.dumps(h)[:-1].encode() + b", " + json.dumps(W).encode() + b": " + json.dumps(h[W]).encode() + b"}"'
st_prune_case "tensor '$W' byte range .* does not match its shape" "shape product overflow" \
  'h[W]["shape"] = [2**62, 4]; h[W]["data_offsets"][1] = h[W]["data_offsets"][0]'
st_prune_case "overlaps tensor" "overlapping tensors" \
  'k = sorted(x for x in h if x != "__metadata__"); h[k[1]]["data_offsets"] = h[k[0]]["data_offsets"]; h[k[1]]["shape"] = h[k[0]]["shape"]; h[k[1]]["dtype"] = h[k[0]]["dtype"]'
st_prune_case "tensor '$W': value nan at flat index 3 is not finite" "NaN weight" \
  'o = h[W]["data_offsets"][0] + 12; d = d[:o] + struct.pack("<f", float("nan")) + d[o + 4:]'
st_prune_case "tensor '$W' has shape \[0, 32\], expected a non-empty 2-D weight" "empty weight" \
  'h[W]["shape"] = [0, 32]; h[W]["data_offsets"][1] = h[W]["data_offsets"][0]'
m=$(model stdir); rm "$m/model.safetensors"; mkdir "$m/model.safetensors"
expect 1 'model.safetensors: not a regular file' "model.safetensors a directory" -- "$SPARQ" classify "$m" hi
m=$(model stempty); : > "$m/model.safetensors"
expect 1 'file is 0 bytes' "empty model.safetensors" -- "$SPARQ" inspect "$m"

# --- config.json: every required size, wrong type / zero / negative, and inconsistent values ---
cfg_case() {  # cfg_case PATTERN DESCRIPTION PYTHON (c: the config dict)
  local m; m=$(model cfg)
  $PY -c 'import json,sys; c=json.load(open(sys.argv[1])); exec(sys.argv[2]); json.dump(c, open(sys.argv[1],"w"))' \
    "$m/config.json" "$3"
  expect 1 "$1" "config $2" -- "$SPARQ" classify "$m" hello
}
for k in vocab_size hidden_size num_hidden_layers num_attention_heads intermediate_size; do
  cfg_case "missing required field '$k'" "no $k" "del c['$k']"
  cfg_case "field '$k' must be an integer, found string" "$k a string" "c['$k'] = '32'"
  cfg_case "field '$k' must be >= 1, found 0" "$k zero" "c['$k'] = 0"
  cfg_case "field '$k' must be >= 1, found -4" "$k negative" "c['$k'] = -4"
  cfg_case "field '$k' must be an integer, found number" "$k fractional" "c['$k'] = 2.5"
done
cfg_case "hidden_size 32 is not a multiple of num_attention_heads 3" "heads not dividing" \
  "c['num_attention_heads'] = 3"
cfg_case "expected shape \[1099511627776, 32\], found \[390, 32\]" "huge vocab" "c['vocab_size'] = 2**40"
cfg_case "expected shape \[390, 64\], found \[390, 32\]" "hidden 64, tensors 32" \
  "c['hidden_size'] = 64; c['intermediate_size'] = 64"
cfg_case "missing tensor 'bert.encoder.layer.2" "more layers than the file" "c['num_hidden_layers'] = 3"
cfg_case "id2label has label id 5, expected ids 0..1" "id2label with a gap" \
  "c['id2label'] = {'0': 'neg', '5': 'pos'}"
cfg_case "quantization_config" "quantization_config a string" "c['quantization_config'] = 'int8'"
cfg_case "quantization_config" "quantization_config of another method" \
  "c['quantization_config'] = {'quant_method': 'gptq', 'bits': 4}"
cfg_case "expected I8 \(config.json has a quantization_config\)" "f32 weights, quantized config" \
  "c['quantization_config'] = {'quant_method': 'sparq_int8', 'bits': 8}"
m=$(model cfgdir); rm "$m/config.json"; mkdir "$m/config.json"
expect 1 'config.json' "config.json a directory" -- "$SPARQ" classify "$m" hi

# --- vocab.txt / tokenizer files ---------------------------------------------------------------
VOCAB="$FIX/tiny_cls/vocab.txt"
voc_case() {  # voc_case PATTERN DESCRIPTION SED-SCRIPT-OR-FILE-CONTENT-COMMAND
  local m; m=$(model voc); eval "$3" > "$m/vocab.txt"
  expect 1 "$1" "vocab $2 (classify)" -- "$SPARQ" classify "$m" hello
}
voc_case "is empty, expected one token per line" "empty" "true"
voc_case "is empty, expected one token per line" "blank lines only" "printf '\n\n\n'"
for t in UNK CLS SEP; do
  voc_case "token '\[$t\]' is not in the vocabulary" "without [$t]" "sed 's/^\[$t\]\$/[X$t]/' '$VOCAB'"
done
voc_case "vocab.txt' line 391: invalid UTF-8 at byte 2" "invalid UTF-8 line" \
  "cat '$VOCAB'; printf 'a\xff\n'"
voc_case "the tokenizer has 391 tokens but config.json has vocab_size 390" "duplicate token beyond vocab_size" \
  "cat '$VOCAB'; echo '[CLS]'"
m=$(model vocdir); rm "$m/vocab.txt"; mkdir "$m/vocab.txt"
expect 1 "vocab.txt" "vocab.txt a directory" -- "$SPARQ" tokenize "$m" hello
m=$(model tokcfg); echo '{"model_max_length": 0}' > "$m/tokenizer_config.json"
expect 1 "'model_max_length' must be a positive token count, found 0" "model_max_length 0" \
  -- "$SPARQ" tokenize "$m" hello
m=$(model tokjson); rm "$m/vocab.txt"; echo '{"model": ' > "$m/tokenizer.json"
expect 1 "tokenizer.json' is not valid JSON" "tokenizer.json cut" -- "$SPARQ" tokenize "$m" hello
printf '{"model":{"type":"WordPiece","vocab":{"[UNK]":-1}}}' > "$m/tokenizer.json"
expect 1 "vocab entry '\[UNK\]' must be an integer" "tokenizer.json negative id" -- "$SPARQ" tokenize "$m" hello
# A BPE option that changes the tokens is refused, not ignored.
m="$TMP/ignore_merges"; rm -rf "$m"; cp -r "$FIX/tiny_modernbert_cls" "$m"
$PY -c 'import json,sys; t=json.load(open(sys.argv[1])); t["model"]["ignore_merges"] = True; json.dump(t, open(sys.argv[1],"w"))' "$m/tokenizer.json"
expect 1 "tokenizer.json: BPE ignore_merges true is not supported" "tokenizer.json ignore_merges" -- "$SPARQ" tokenize "$m" hello
# A huge token line is just a token that never matches.
m=$(model voclong); { cat "$VOCAB"; head -c 1000000 /dev/zero | tr '\0' a; echo; } > "$m/vocab.txt"
[ "$(timeout 20 "$SPARQ" tokenize "$m" hello)" = "$("$SPARQ" tokenize "$FIX/tiny_cls" hello)" ] ||
  fail "vocab with a long line tokenizes differently"

# --- input text ----------------------------------------------------------------------------------
M="$FIX/tiny_cls"
printf 'good movie\nbad movie\n' > "$TMP/lf.txt"
printf 'good movie\r\nbad movie\r\n' > "$TMP/crlf.txt"
for cmd in tokenize embed classify; do
  [ "$("$SPARQ" $cmd "$M" --file "$TMP/crlf.txt")" = "$("$SPARQ" $cmd "$M" --file "$TMP/lf.txt")" ] ||
    fail "$cmd: CRLF file differs from LF file"
done
printf 'ok\n\xed\xa0\x80 surrogate\n' > "$TMP/sur.txt"
printf '\xc0\xaf overlong\n' > "$TMP/over.txt"
for cmd in tokenize embed classify; do
  expect 1 "sur.txt line 2: invalid UTF-8 at byte 1" "$cmd surrogate" -- "$SPARQ" $cmd "$M" --file "$TMP/sur.txt"
  expect 1 "over.txt line 1: invalid UTF-8" "$cmd overlong" -- "$SPARQ" $cmd "$M" --file "$TMP/over.txt"
  expect 1 "input file '$TMP' is a directory" "$cmd --file a directory" -- "$SPARQ" $cmd "$M" --file "$TMP"
done
# stdin that is a directory is an error, not "no texts".
code=0; "$SPARQ" classify "$M" < "$TMP" > "$TMP/out" 2> "$TMP/err" || code=$?
[ "$code" = 1 ] && grep -q "stdin is a directory" "$TMP/err" || fail "stdin a directory: exit $code"
# Output that cannot be written (full disk, closed stdout) is an error, not a silent success.
if [ -w /dev/full ]; then
  for cmd in "tokenize $M hi" "embed $M hi" "classify $M hi" "inspect $M" "bench $M --seq 8 --reps 1 --warmup 0"; do
    code=0; "$SPARQ" $cmd > /dev/full 2> "$TMP/err" || code=$?
    [ "$code" = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "cannot write standard output" "$TMP/err" ||
      { fail "$cmd > /dev/full: exit $code"; cat "$TMP/err"; }
  done
fi
code=0; "$SPARQ" tokenize "$M" hi >&- 2> "$TMP/err" || code=$?
[ "$code" = 1 ] && grep -q "cannot write standard output" "$TMP/err" || fail "closed stdout: exit $code"
# NUL is a control character: dropped like the tokenizer's other control characters.
out=$("$SPARQ" tokenize "$M" --file <(printf 'good\0movie\n') | jq -c .ids)
[ "$out" = "$("$SPARQ" tokenize "$M" "goodmovie" | jq -c .ids)" ] || fail "NUL byte: ids $out"
# A long run of combining marks (canonical reordering) must not stall the tokenizer (it was
# quadratic: 26 s for this line with BERT's normalizer, over a minute with ModernBERT's NFC).
$PY -c 'import sys; sys.stdout.write("a" + "\u0301\u0316" * 100000 + "\n")' > "$TMP/marks.txt"
for m in "$M" "$FIX/tiny_modernbert_cls"; do
  code=0; timeout 10 "$SPARQ" tokenize "$m" --file "$TMP/marks.txt" > "$TMP/out" || code=$?
  [ "$code" = 0 ] || fail "tokenize of 200000 combining marks ($m): exit $code (124 = timeout)"
done
# Empty lines are empty texts ([CLS] [SEP]), not skipped.
[ "$(printf '\n\n' | "$SPARQ" classify "$M" | wc -l)" = 2 ] || fail "empty lines not classified"
# Long texts are truncated (documented in docs/cli.md) to the same length by every command:
# max_position_embeddings (128 here) or --max-length.
long=$(printf 'the %.0s' $(seq 400))
n=$("$SPARQ" tokenize "$M" "$long" | jq '.ids | length'); [ "$n" = 128 ] || fail "tokenize kept $n tokens"
n=$("$SPARQ" embed "$M" --pooling none "$long" | jq '.hidden | length')
[ "$n" = 128 ] || fail "embed kept $n tokens"
n=$("$SPARQ" embed "$M" --pooling none --max-length 16 "$long" | jq '.hidden | length')
[ "$n" = 16 ] || fail "embed --max-length 16 kept $n tokens"
[ "$("$SPARQ" classify "$M" "$long" | jq -c .scores)" = "$("$SPARQ" classify "$M" "$(printf 'the %.0s' $(seq 126))" | jq -c .scores)" ] ||
  fail "classify of a long text differs from its truncation"
n=$("$SPARQ" classify "$M" "$long" --pair "$long" --max-length 20 2>&1 | jq -r .label)
[ -n "$n" ] || fail "classify long pair"

# --- command-line values -------------------------------------------------------------------------
expect 2 "--target-s: Value nan not in range" "bench --target-s nan" -- "$SPARQ" bench "$M" --seq 8 --target-s nan
expect 2 "--warmup-s: Value nan not in range" "bench --warmup-s nan" -- "$SPARQ" bench "$M" --seq 8 --warmup-s nan
expect 2 "--target-s: Value inf not in range" "bench --target-s inf" -- "$SPARQ" bench "$M" --seq 8 --target-s inf
expect 2 "--sparsity: Value nan not in range" "prune --sparsity nan" -- "$SPARQ" prune "$M" "$TMP/p0" --sparsity nan
expect 2 "--sparsity: Value x is not a number" "prune --sparsity x" -- "$SPARQ" prune "$M" "$TMP/p0" --sparsity x
printf 'good movie\n' > "$TMP/calib.txt"
expect 2 "--percentile: Value nan not in range" "quantize --percentile nan" \
  -- "$SPARQ" quantize "$M" "$TMP/q0" --calibrate "$TMP/calib.txt" --percentile nan
expect 2 "--target-s: Value nan not in range" "tradeoff --target-s nan" \
  -- "$SPARQ" tradeoff --base "$M" --variants 0.5 --data "$TMP/lf.txt" --target-s nan
expect 2 "--threads: Value 99999 not in range 1 to 4096" "threads 99999" -- "$SPARQ" embed "$M" --threads 99999 hi
expect 2 "--threads: Value -1" "threads -1" -- "$SPARQ" embed "$M" --threads -1 hi
expect 2 "--max-length: Value 1 not in range" "max-length 1" -- "$SPARQ" classify "$M" --max-length 1 hi
expect 2 "--max-length: Value 99999999999999999999" "max-length overflow" -- "$SPARQ" classify "$M" --max-length 99999999999999999999 hi
expect 2 "--batch-size: Value 0" "batch-size 0" -- "$SPARQ" embed "$M" --batch-size 0 hi
expect 2 "--top-k: Value -1" "top-k -1" -- "$SPARQ" classify "$M" --top-k -1 hi
expect 2 "--batch: Value 99999999999" "bench huge batch" -- "$SPARQ" bench "$M" --batch 99999999999 --seq 8
expect 2 "--seq: Value -1" "bench seq -1" -- "$SPARQ" bench "$M" --seq -1
# Outputs that would overwrite an input.
m=$(model same)
expect 1 "is the model directory" "prune into its input" -- "$SPARQ" prune "$m" "$m" --sparsity 0.5 --force
ln -s "$m" "$TMP/samelink"
expect 1 "is the model directory" "prune into a link to its input" -- "$SPARQ" prune "$m" "$TMP/samelink" --sparsity 0.5
expect 1 "must differ from the model directory" "quantize into its input" -- "$SPARQ" quantize "$m" "$TMP/samelink"
expect 1 "exists and is not a directory" "prune into a file" -- "$SPARQ" prune "$m" "$m/config.json" --sparsity 0.5
cmp -s "$m/model.safetensors" "$ST" || fail "a refused prune/quantize changed the model"
printf 'sentence\tlabel\ngood\t1\nbad\t0\n' > "$TMP/data.tsv"; cp "$TMP/data.tsv" "$TMP/data.bak"
expect 2 "--predictions '$TMP/data.tsv' is the dataset file" "eval --predictions onto --data" \
  -- "$SPARQ" eval "$M" --data "$TMP/data.tsv" --predictions "$TMP/data.tsv"
cmp -s "$TMP/data.tsv" "$TMP/data.bak" || fail "eval overwrote its dataset"
cp "$TMP/data.tsv" "$TMP/data.csv"
expect 2 "--out '$TMP/data' would overwrite the dataset" "tradeoff --out onto --data" \
  -- "$SPARQ" tradeoff --base "$M" --variants "$M" --data "$TMP/data.csv" --format tsv --out "$TMP/data"
cmp -s "$TMP/data.csv" "$TMP/data.bak" || fail "tradeoff overwrote its dataset"
expect 2 "--shapes: '70000x8' is not BATCHxSEQ" "peer-bench huge shape" \
  -- "$SPARQ" peer-bench --variant f32 --model-dir "$M" --inputs "$TMP" --shapes 70000x8
expect 1 "dataset path '$TMP' is a directory" "eval --data a directory" -- "$SPARQ" eval "$M" --data "$TMP"

# DeBERTa: a SentencePiece model without its [CLS] / [SEP] pieces (XLM-R's), a truncated spm.model,
# relative embeddings of the wrong size for the config, buckets the log formula cannot use.
deberta() { rm -rf "$TMP/$1"; cp -r "$FIX/tiny_deberta_cls" "$TMP/$1"; echo "$TMP/$1"; }
m=$(deberta deb_spm); cp "$FIX/tiny_xlmr/sentencepiece.bpe.model" "$m/spm.model"
expect 1 "spm.model: the SentencePiece model has no \[CLS\] piece" "XLM-R's spm as DeBERTa's" -- "$SPARQ" classify "$m" hi
m=$(deberta deb_cut); head -c 100 "$FIX/tiny_deberta_cls/spm.model" > "$m/spm.model"
expect 1 "spm.model: not a SentencePiece model" "truncated spm.model" -- "$SPARQ" classify "$m" hi
# A SentencePiece normalizer map whose root points outside it (libsentencepiece crashed on the
# first text): in XLM-R's sentencepiece.bpe.model and in a Unigram tokenizer.json.
xlmr() { rm -rf "$TMP/$1"; cp -r "$FIX/tiny_xlmr" "$TMP/$1"; echo "$TMP/$1"; }
BAD_MAP='b"\x04\x00\x00\x00\xff\xff\xff\xff\x00\x00"'
m=$(xlmr xlmr_map)
$PY -c "
from sentencepiece import sentencepiece_model_pb2 as pb
m = pb.ModelProto(); m.ParseFromString(open('$m/sentencepiece.bpe.model', 'rb').read())
m.normalizer_spec.precompiled_charsmap = $BAD_MAP
open('$m/sentencepiece.bpe.model', 'wb').write(m.SerializeToString())"
expect 1 "sentencepiece.bpe.model: its normalizer's precompiled character map is damaged" \
  "damaged map in a .model" -- "$SPARQ" embed "$m" hi
m=$(xlmr xlmr_map_json); rm "$m/sentencepiece.bpe.model"
$PY -c "
import base64, json
j = json.load(open('$FIX/tiny_xlmr_json/tokenizer.json'))
j['normalizer']['normalizers'][0]['precompiled_charsmap'] = base64.b64encode($BAD_MAP).decode()
json.dump(j, open('$m/tokenizer.json', 'w'))"
expect 1 "tokenizer.json: its Precompiled normalizer's precompiled_charsmap is damaged" \
  "damaged map in a tokenizer.json" -- "$SPARQ" embed "$m" hi
# A model without a position table (rotary, ALiBi, DeBERTa-v3) sizes its tables by
# max_position_embeddings, which no tensor bounds: a huge one is refused, not allocated.
for fx in tiny_jina:max_position_embeddings tiny_nomic:n_positions tiny_deberta:max_position_embeddings; do
  m="$TMP/${fx%%:*}_long"; rm -rf "$m"; cp -r "$FIX/${fx%%:*}" "$m"
  $PY -c "import json,sys; p=sys.argv[1]+'/config.json'; c=json.load(open(p)); c['${fx#*:}']=2000000000; json.dump(c,open(p,'w'))" "$m"
  expect 1 "${fx#*:} 2000000000 exceeds sparq's limit of 262144 for a model without a position table" \
    "${fx%%:*}: huge ${fx#*:}" -- "$SPARQ" embed "$m" hi
done
m=$(deberta deb_span); sed -i 's/"max_relative_positions": 16/"max_relative_positions": 8/' "$m/config.json"
expect 1 "rel_embeddings.weight': expected shape \[16, 32\], found \[32, 32\]" "rel_embeddings size" -- "$SPARQ" classify "$m" hi
m=$(deberta deb_buckets); sed -i 's/"position_buckets": -1/"position_buckets": 40/' "$m/config.json"
expect 1 "position_buckets 40 needs max_relative_positions above 21" "buckets past the span" -- "$SPARQ" classify "$m" hi

# --- pytorch_model.bin: zip offsets that wrap around, a pickle nested a tuple per byte, a shape
# whose strides overflow (each a crash or undefined behaviour before) -----------------------------
bin_case() {  # bin_case PATTERN DESCRIPTION PYTHON (writes the bytes b of pytorch_model.bin)
  local m; m=$(model bin); rm "$m/model.safetensors"
  $PY - "$m/pytorch_model.bin" "$3" <<'PYEOF'
import io, struct, sys, zipfile
def torch_zip(pkl, records={}):  # a torch.save-like zip: archive/data.pkl + stored records
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in records.items():
            z.writestr("archive/data/" + k, v)
    return out.getvalue()
def long8(v):  # pickle LONG1 of 8 bytes
    return b"\x8a\x08" + v.to_bytes(8, "little", signed=True)
def zip64_locator(b, z):  # b with a zip64 locator pointing at offset z, and 0xFFFF entries
    e = b.rfind(b"PK\x05\x06")
    return b[:e] + struct.pack("<IIQI", 0x07064b50, 0, z, 1) + b[e:e + 10] + b"\xff\xff" + b[e + 12:]
exec(sys.argv[2])
open(sys.argv[1], "wb").write(b)
PYEOF
  expect 1 "$1" "pytorch_model.bin $2" -- "$SPARQ" classify "$m" hello
}
bin_case "data.pkl holds no state dict" "nested 2 million tuples deep" 'b = torch_zip(b"\x80\x02)" + b"\x85" * 2000000 + b".")'
bin_case "tensor 'w' has an invalid size" "shape [2^62, 2^62], strides [2^62, 1]" \
  'b = torch_zip(b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00(" + long8(2**62) + long8(2**62) + b"t(" + long8(2**62) + b"K\x01tNtRu.", {"0": bytes(16)})'
bin_case "bad zip64 end record" "zip64 end record at 2^64 - 40" \
  'b = zip64_locator(torch_zip(b"\x80\x02}."), 2**64 - 40)'
bin_case "corrupt zip central directory" "central directory at 2^64 - 20" \
  'b = torch_zip(b"\x80\x02}."); e = b.rfind(b"PK\x05\x06"); b = b[:e] + struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, 1, 1, 46, 2**64 - 20) + b[e:]; b = zip64_locator(b, e)'

# --- JSON nested deeper than serde_json's 128 levels (Hugging Face's own limit): error messages
# dump the value they name, and dumping 500000 levels overflowed the stack --------------------------
NEST='"[" * 500000 + "]" * 500000'
m=$(model deepcfg); $PY -c "import json,sys; c=json.load(open(sys.argv[1])); c['id2label'] = {'0': 'XNESTX'}; open(sys.argv[1],'w').write(json.dumps(c).replace('\"XNESTX\"', $NEST))" "$m/config.json"
expect 1 "config.json: JSON nested 500002 levels deep, more than 128" "config.json nested deep" -- "$SPARQ" classify "$m" hi
st_case "header: JSON nested 500001 levels deep, more than 128" "header nested deep" \
  "raw = json.dumps(h).replace(json.dumps(h[W]), $NEST, 1).encode()"
m="$TMP/deeptok"; rm -rf "$m"; cp -r "$FIX/tiny_modernbert_cls" "$m"
$PY -c "import json,sys; t=json.load(open(sys.argv[1])); t['post_processor']['special_tokens']['[CLS]']['ids'] = 'XNESTX'; open(sys.argv[1],'w').write(json.dumps(t).replace('\"XNESTX\"', $NEST))" "$m/tokenizer.json"
expect 1 "tokenizer.json: JSON nested 500004 levels deep, more than 128" "tokenizer.json nested deep" -- "$SPARQ" tokenize "$m" hi
# prune / quantize copy a sentence-transformers modules.json (dumping it again): SIGSEGV before.
m=$(model deepmod); $PY -c "open('$m/modules.json', 'w').write('[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\", \"x\": ' + $NEST + '}]')"
expect 1 "modules.json: JSON nested 500002 levels deep, more than 128" "prune, modules.json nested deep" -- "$SPARQ" prune "$m" "$TMP/deepmod-p" --sparsity 0.5
expect 1 "modules.json: JSON nested 500002 levels deep, more than 128" "quantize, modules.json nested deep" -- "$SPARQ" quantize "$m" "$TMP/deepmod-q"
# The planner's rate cache (spmm-rates.json, sparq's own file) nested deep: ignored and rewritten
# with this CPU's rates (copying or dumping it overflowed the stack).
# (The rates are read for matrices of 2^16 weights and more: a one-layer BERT of hidden 256, half
# its weights zero.)
mkdir -p "$TMP/cache"
$PY -c "open('$TMP/cache/spmm-rates.json', 'w').write('{\"x\": ' + $NEST + '}')"
m=$(model wide)
PYTHONPATH="$SRC/tools" $PY - "$m" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d = sys.argv[1]
c = json.load(open(f"{d}/config.json"))
c.update(hidden_size=256, intermediate_size=256, num_hidden_layers=1, num_attention_heads=4)
json.dump(c, open(f"{d}/config.json", "w"))
rng = np.random.default_rng(1)
def t(*shape):
    a = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    if len(shape) == 2 and shape[0] >= 256 and shape[1] >= 256:
        a[rng.random(shape) < 0.5] = 0
    return a
w = {"bert.embeddings.word_embeddings.weight": t(c["vocab_size"], 256),
     "bert.embeddings.position_embeddings.weight": t(c["max_position_embeddings"], 256),
     "bert.embeddings.token_type_embeddings.weight": t(2, 256),
     "bert.pooler.dense.weight": t(256, 256), "bert.pooler.dense.bias": t(256),
     "classifier.weight": t(len(c["id2label"]), 256), "classifier.bias": t(len(c["id2label"]))}
for n in ("embeddings.LayerNorm", "encoder.layer.0.attention.output.LayerNorm", "encoder.layer.0.output.LayerNorm"):
    w[f"bert.{n}.weight"], w[f"bert.{n}.bias"] = np.ones(256, np.float32), t(256)
for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
          "intermediate.dense", "output.dense"):
    w[f"bert.encoder.layer.0.{n}.weight"], w[f"bert.encoder.layer.0.{n}.bias"] = t(256, 256), t(256)
ref.write_safetensors(f"{d}/model.safetensors", w)
PYEOF
if ! SPARQ_CACHE_DIR="$TMP/cache" timeout 120 "$SPARQ" inspect "$m" --plan > /dev/null 2> "$TMP/err"; then
  fail "planner rate cache nested deep"; cat "$TMP/err"
fi
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert list(j) != ['x'] and 'x' not in j, list(j)" \
  "$TMP/cache/spmm-rates.json" || fail "planner rate cache nested deep: not rewritten"

# --- config.json sizes past 2^40 (sizes computed from them overflowed), and layer counts no file
# holds (a hang in running them, or allocating them) ----------------------------------------------
family_cfg_case() {  # family_cfg_case FIXTURE PATTERN DESCRIPTION PYTHON
  local m="$TMP/fcfg"; rm -rf "$m"; cp -r "$FIX/$1" "$m"
  $PY -c 'import json,sys; c=json.load(open(sys.argv[1])); exec(sys.argv[2]); json.dump(c, open(sys.argv[1],"w"))' \
    "$m/config.json" "$4"
  expect 1 "$2" "config $3" -- "$SPARQ" classify "$m" hello
}
family_cfg_case tiny_roberta_cls "field 'pad_token_id' is out of range: 9223372036854775807 \(at most 2\^40\)" \
  "RoBERTa pad_token_id 2^63 - 1" "c['pad_token_id'] = 2**63 - 1"
family_cfg_case tiny_deberta_cls "field 'max_relative_positions' is out of range" "DeBERTa span 2^62" \
  "c['max_relative_positions'] = 2**62"
family_cfg_case tiny_deberta_cls "attention_head_size other than hidden_size / num_attention_heads" \
  "DeBERTa attention_head_size 2^40" "c['attention_head_size'] = 2**40; c['num_attention_heads'] = 2**40"
family_cfg_case tiny_modernbert_cls "field 'local_attention' is out of range" "ModernBERT window 2^63 - 1" \
  "c['local_attention'] = 2**63 - 1"
family_cfg_case tiny_albert_cls "num_hidden_layers 100000 \* inner_group_num 2 layer runs exceed sparq's limit of 4096" \
  "ALBERT 100000 layers" "c['num_hidden_layers'] = 100000"
cfg_case "missing tensor 'bert.encoder.layer.2" "2^31 - 1 layers" "c['num_hidden_layers'] = 2**31 - 1"

# Fewer layers in config.json than in the file: runs, with one warning (inspect --plan loads the
# weights twice and once said it twice).
d=$(model fewer)
$PY - "$d/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1])); c["num_hidden_layers"] = 1; json.dump(c, open(sys.argv[1], "w"))
PYEOF
timeout 20 "$SPARQ" inspect "$d" --plan > /dev/null 2> "$TMP/err" || fail "fewer layers: inspect --plan failed"
[ "$(grep -c "warning: .*holds 2 encoder layers but config.json has num_hidden_layers=1" "$TMP/err")" = 1 ] ||
  { fail "fewer layers: want one warning"; cat "$TMP/err"; }

# Out of memory is one line that says so (std::bad_alloc said nothing useful). (Not under
# AddressSanitizer, whose shadow memory cannot be reserved within the limit.)
oom=(bash -c 'ulimit -v 4000000 && exec "$0" bench "$1" -b 65536 -s 128 --threads 1' "$SPARQ" "$FIX/tiny_cls")
if ! grep -q AddressSanitizer <<<"$("${oom[@]}" 2>&1)"; then
  expect 1 "out of memory" "batch past a 4 GB address space" -- "${oom[@]}"
fi

# A FIFO in place of a model file: opening it for reading would wait for a writer forever.
if command -v mkfifo > /dev/null; then
  for f in config.json model.safetensors vocab.txt; do
    d=$(model "fifo_${f%%.*}"); rm "$d/$f"; mkfifo "$d/$f"
    if [ $f != vocab.txt ]; then  # (inspect reports a tokenizer it cannot load; prune copies files)
      expect 1 "$f: not a regular file" "FIFO $f (inspect)" -- "$SPARQ" inspect "$d"
      expect 1 "$f: not a regular file" "FIFO $f (prune)" -- "$SPARQ" prune "$d" "$TMP/fifo_out" --sparsity 0.5
    fi
    expect 1 "$f: not a regular file" "FIFO $f (classify)" -- "$SPARQ" classify "$d" hello
  done
fi

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "robustness: ok"
