#!/usr/bin/env bash
# sparq quantize -> compare -> inspect on the fixtures: int8 directory layout, predictions of the
# quantized models against the f32 model's, drift report (text and JSON), error cases.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

out=$("$SPARQ" quantize "$FIX/tiny_cls" "$TMP/q")
grep -q "12 int8 weight matrices" <<<"$out" || { echo "quantize summary: $out"; exit 1; }
grep -q "cosine min" <<<"$out" || { echo "no drift report: $out"; exit 1; }
for f in config.json vocab.txt tokenizer_config.json model.safetensors; do
  [ -f "$TMP/q/$f" ] || { echo "missing $f"; exit 1; }
done
$PY - "$TMP/q" <<'PYEOF'
import json, struct, sys
d = sys.argv[1]
b = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
i8 = [k for k, v in h.items() if v["dtype"] == "I8"]
assert len(i8) == 12, i8
for k in i8:
    assert "encoder.layer" in k and k.endswith(".weight"), k
    s = h[k + "_scale"]
    assert s["dtype"] == "F32" and s["shape"] == [h[k]["shape"][0]], (k, s)
assert h["bert.embeddings.word_embeddings.weight"]["dtype"] == "F32"
assert h["classifier.weight"]["dtype"] == "F32"
q = json.load(open(d + "/config.json"))["quantization_config"]
assert q["quant_method"] == "sparq_int8" and q["bits"] == 8, q
PYEOF

# Predictions of the quantized models equal the f32 model's on these texts (forced int8 kernels:
# the tiny matrices would otherwise stay f32).
texts=("the movie was great !" "i did not like it" "the film was long but good")
ref=$("$SPARQ" classify "$FIX/tiny_cls" "${texts[@]}" | $PY -c 'import sys,json; print([json.loads(l)["label"] for l in sys.stdin])')
for k in dense sparse; do
  got=$("$SPARQ" classify "$TMP/q" --kernels $k "${texts[@]}" | $PY -c 'import sys,json; print([json.loads(l)["label"] for l in sys.stdin])')
  [ "$ref" = "$got" ] || { echo "int8 ($k) labels $got differ from f32 $ref"; exit 1; }
done

# compare: directory vs its quantized copy, and one directory at two precisions (JSON).
grep -q "predictions changed: 0 of 3" <<<"$("$SPARQ" compare "$FIX/tiny_cls" "$TMP/q" --kernels dense "${texts[@]}")" ||
  { echo "compare text report"; exit 1; }
"$SPARQ" compare "$FIX/tiny_sparse" "$FIX/tiny_sparse" --precision-a f32 --precision-b int8 --kernels sparse --json |
  $PY -c '
import json, sys
j = json.load(sys.stdin)
assert j["texts"] == 8, j
for k in ("last_hidden_state", "pooled", "logits"):
    assert 0.99 <= j[k]["min_cosine"] <= 1.0 and 0 < j[k]["max_abs_diff"] < 0.25, (k, j[k])
assert j["changed_share"] <= 0.25, j
'
# Same precision on both sides: identical outputs.
"$SPARQ" compare "$FIX/tiny_cls" "$FIX/tiny_cls" --precision-b f32 --json |
  $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["last_hidden_state"]["max_abs_diff"] == 0, j'

# Calibrated static activation scales.
printf 'the movie was great !\ni did not like it\nwho wrote the book ?\n' > "$TMP/calib.txt"
"$SPARQ" quantize "$FIX/tiny_cls" "$TMP/qc" --calibrate "$TMP/calib.txt" --method percentile --percentile 99.9 --json |
  $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["activations"] == "static per tensor" and j["drift"]["last_hidden_state"]["min_cosine"] > 0.98, j'
$PY -c 'import json,sys; q=json.load(open(sys.argv[1]))["quantization_config"]; assert len(q["activation_scales"]) == 12, q' "$TMP/qc/config.json"
"$SPARQ" quantize "$FIX/tiny_cls" "$TMP/qm" --calibrate "$TMP/calib.txt" --method mse > /dev/null

# A quantized directory runs (and reports) int8 whatever --precision asks for.
"$SPARQ" bench "$TMP/q" --batch 1 --seq 8 --reps 1 --warmup 0 --threads 1 --precision f32 --json |
  $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["precision"] == "int8", j'

# inspect --plan: int8 kernels per matrix.
plan=$("$SPARQ" inspect "$TMP/q" --plan --kernels dense)
grep -q "layer.1.output.dense.weight.*int8  dense_s8_onednn" <<<"$plan" || { echo "inspect --plan: $plan"; exit 1; }
grep -q "classifier.weight.*f32  dense_f32_onednn  (heads stay f32" <<<"$plan" || { echo "inspect --plan heads: $plan"; exit 1; }
# Without forcing, the tiny matrices stay f32 and the plan says why.
grep -q "f32: int8 does not pay at this size" <<<"$("$SPARQ" inspect "$TMP/q" --plan)" || { echo "inspect auto plan"; exit 1; }

# Errors: one line, non-zero exit.
err() {
  local want="$1"; shift
  set +e; msg=$("$SPARQ" "$@" 2>&1 >/dev/null); rc=$?; set -e
  [ $rc -ne 0 ] || { echo "expected failure: $*"; exit 1; }
  [ "$(wc -l <<<"$msg")" -eq 1 ] || { echo "not one line: $msg"; exit 1; }
  grep -q "$want" <<<"$msg" || { echo "expected '$want' in: $msg"; exit 1; }
}
err "already quantized" quantize "$TMP/q" "$TMP/qq"
err "already holds a model" quantize "$FIX/tiny_cls" "$TMP/q"
mkdir "$TMP/stale" && cp "$FIX/tiny_modernbert/tokenizer.json" "$TMP/stale/"  # would be read with it
err "is not empty" quantize "$FIX/tiny_cls" "$TMP/stale"
rc=0; "$SPARQ" quantize "$FIX/tiny_cls" "$TMP/p0" --calibrate "$FIX/tiny_cls/vocab.txt" --percentile 0 2> /dev/null || rc=$?
[ $rc = 2 ] || { echo "--percentile 0: exit $rc, want 2 (a bad command line)"; exit 1; }
err "method" quantize "$FIX/tiny_cls" "$TMP/x" --method median
err "cannot open" quantize "$FIX/tiny_cls" "$TMP/y" --calibrate "$TMP/none.txt"
cp "$FIX/tiny_cls/config.json" "$TMP/q/config.json"
err "quantization_config" classify "$TMP/q" "hello"
err "precision" compare "$FIX/tiny_cls" "$FIX/tiny_cls" --precision-b int4
err "not comparable (task base vs sequence-classification)" compare "$FIX/tiny_base" "$FIX/tiny_cls"
# A finite weight so large that the encoder overflows to NaN: no drift report (its statistics
# skipped NaN and called the pair identical), from compare or from quantize's report.
mkdir "$TMP/huge"
cp "$FIX/tiny_cls"/* "$TMP/huge/"
/usr/bin/python3 - "$TMP/huge/model.safetensors" <<'PYEOF'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["bert.encoder.layer.0.attention.self.query.weight"]
assert t["dtype"] == "F32"
struct.pack_into("<f", b, 8 + n + t["data_offsets"][0], 3e38)
open(p, "wb").write(b)
PYEOF
err "the second model's last_hidden_state holds NaN" compare "$FIX/tiny_cls" "$TMP/huge" --precision-b f32
err "the first model's last_hidden_state holds NaN" compare "$TMP/huge" "$FIX/tiny_cls"
err "holds NaN" quantize "$TMP/huge" "$TMP/huge-q"
# Nor do the commands print such a model's results (JSON has no NaN: they were nulls).
err "the model computed NaN" classify "$TMP/huge" "the movie was great !"
err "the model computed NaN" embed "$TMP/huge" "the movie was great !"

# A model without a tokenizer (e.g. the peers harness's generated models): quantize still
# succeeds and reports the drift on random token sequences; compare does the same without texts
# and says why it cannot encode texts given to it.
mkdir "$TMP/notok"
cp "$FIX/tiny_cls/config.json" "$FIX/tiny_cls/model.safetensors" "$TMP/notok/"
echo "not a model" > "$TMP/notok/model.onnx"  # weights in another format are not copied
out=$("$SPARQ" quantize "$TMP/notok" "$TMP/notok-q")
[ ! -e "$TMP/notok-q/model.onnx" ] || { echo "quantize copied a stale model.onnx"; exit 1; }
grep -q "over 8 random token sequences" <<<"$out" || { echo "no random-id drift: $out"; exit 1; }
grep -q "cosine min" <<<"$out" || { echo "no drift report: $out"; exit 1; }
out=$("$SPARQ" compare "$TMP/notok" "$TMP/notok-q" --json)
grep -q '"random_token_ids":true' <<<"$out" || { echo "compare without tokenizer: $out"; exit 1; }
err "no tokenizer" compare "$TMP/notok" "$TMP/notok-q" "some text"
