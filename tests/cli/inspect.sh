#!/usr/bin/env bash
# sparq inspect: architecture, tokenizer, counts and per-matrix sparsity of tiny_sparse (table and
# JSON), matched against the sparsity recorded by the fixture generator; --plan lists every
# matrix. The tokenizer line of each kind of tokenizer directory.
set -euo pipefail
trap 'rm -f /tmp/sparq_inspect_$$.json' EXIT
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_sparse"

out=$("$SPARQ" inspect "$M")
grep -q "BertForSequenceClassification" <<<"$out" || { echo "no architecture: $out"; exit 1; }
grep -q "2 layers, hidden 32, 4 heads" <<<"$out" || { echo "no shape line"; exit 1; }
grep -q "encoder sparsity  90.01%" <<<"$out" || { echo "wrong encoder sparsity: $out"; exit 1; }
grep -q "^tokenizer     WordPiece (vocab.txt), 390 tokens, model_max_length 512$" <<<"$out" ||
  { echo "no tokenizer line: $out"; exit 1; }
# The tokenizer each kind of directory loads, and one that does not load (inspect still runs).
FIX="$SRC/tests/fixtures"
tok_line() { "$SPARQ" inspect "$1" | grep "^tokenizer "; }
[ "$(tok_line "$FIX/tiny_xlmr")" = "tokenizer     SentencePiece (sentencepiece.bpe.model), 402 tokens, model_max_length 512" ]
[ "$(tok_line "$FIX/tiny_modernbert")" = "tokenizer     byte-level BPE (tokenizer.json), 390 tokens, model_max_length 128" ]
[ "$(tok_line "$FIX/tiny_deberta_v1")" = "tokenizer     byte-level BPE (vocab.json + merges.txt), 390 tokens, model_max_length 512" ]
T="$(mktemp -d)"; trap 'rm -rf "$T" /tmp/sparq_inspect_$$.json' EXIT
cp -r "$FIX/tiny_xlmr" "$T/xj"; rm "$T/xj/sentencepiece.bpe.model"
cp "$FIX/tiny_xlmr_json/tokenizer.json" "$T/xj/"
[ "$(tok_line "$T/xj")" = "tokenizer     SentencePiece Unigram (tokenizer.json), 402 tokens, model_max_length 512" ]
echo '{"model": ' > "$T/xj/tokenizer.json"
tok_line "$T/xj" | grep -q "^tokenizer     not loadable: .*tokenizer.json' is not valid JSON"
grep -Eq "bert.encoder.layer.0.attention.self.query.weight +\[32, 32\] +F32 +90.04%" <<<"$out" ||
  { echo "per-matrix row missing"; exit 1; }

"$SPARQ" inspect "$M" --json > /tmp/sparq_inspect_$$.json
$PY - "$M" /tmp/sparq_inspect_$$.json <<'PYEOF'
import json, sys
d, path = sys.argv[1], sys.argv[2]
j = json.load(open(path))
ref = json.load(open(d + "/reference.json"))["sparsity"]
assert j["architecture"] == "BertForSequenceClassification" and j["task"] == "sequence-classification"
assert j["layers"] == 2 and j["hidden"] == 32 and j["heads"] == 4 and j["intermediate"] == 64
assert j["labels"] == ["negative", "positive"]
enc = {m["name"]: m for m in j["matrices"] if m["encoder_linear"]}
assert set(enc) == set(ref), (sorted(enc), sorted(ref))
for name, s in ref.items():
    assert abs(enc[name]["sparsity"] - s) < 1e-5, (name, enc[name]["sparsity"], s)
total = sum(m["shape"][0] * m["shape"][1] for m in enc.values())
zeros = sum(m["zeros"] for m in enc.values())
assert j["parameters"]["encoder_linear_weights"] == total == 16384
assert abs(j["encoder_sparsity"] - zeros / total) < 1e-12
assert all(not m["encoder_linear"] or m["sparsity"] > 0.89 for m in j["matrices"])
PYEOF

plan=$("$SPARQ" inspect "$M" --plan --threads 1)
grep -q "kernel plan" <<<"$plan" || { echo "no plan section"; exit 1; }
for l in 0 1; do
  grep -q "encoder.layer.$l.intermediate.dense.weight.*sparsity" <<<"$plan" || { echo "plan lacks layer $l"; exit 1; }
done
# A quantized directory: its I8 encoder weights are counted (zeros of the stored int8 values,
# checked against the file read independently with numpy).
Q=$(mktemp -d)
trap 'rm -f /tmp/sparq_inspect_$$.json; rm -rf "$Q"' EXIT
"$SPARQ" quantize "$M" "$Q/q" > /dev/null
qout=$("$SPARQ" inspect "$Q/q")
grep -q "encoder linear weights 16,384" <<<"$qout" || { echo "int8 weights not counted: $qout"; exit 1; }
grep -Eq "encoder.layer.0.intermediate.dense.weight +\[64, 32\] +I8 +89\.99%" <<<"$qout" ||
  { echo "int8 per-matrix row missing: $qout"; exit 1; }
"$SPARQ" inspect "$Q/q" --json > "$Q/i.json"
$PY - "$Q/q/model.safetensors" "$Q/i.json" <<'PYEOF'
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
zeros = total = 0
for name, t in hdr.items():
    if name == "__metadata__" or t["dtype"] != "I8":
        continue
    a, b = t["data_offsets"]
    q = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.int8)
    zeros += int((q == 0).sum()); total += q.size
j = json.load(open(sys.argv[2]))
assert total == 16384 and j["parameters"]["encoder_linear_weights"] == total, (total, j["parameters"])
assert abs(j["encoder_sparsity"] - zeros / total) < 1e-12, (j["encoder_sparsity"], zeros / total)
assert j["encoder_sparsity"] >= 0.9001, j["encoder_sparsity"]  # int8 rounding only adds zeros
PYEOF
echo "inspect: ok"
