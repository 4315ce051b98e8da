#!/usr/bin/env bash
# NomicBERT (nomic-ai/nomic-embed-text-v1 / v1.5, model_type nomic_bert) end to end: `embed` of
# the two fixtures (swiglu without biases as published; geglu with every bias and a rounded MLP
# width) equals the PyTorch reference's mean pooling on the ids `sparq tokenize` gives; a
# 90%-pruned copy runs on the sparse kernels — on the packed stream at one thread and token-major
# without it — and equals the reference on its pruned weights; `inspect` lists Wqkv / out_proj /
# fc11 / fc12 / fc2 with their sparsity and the plan the fused {fc12,fc11}; `quantize` writes an
# int8 copy that runs on int8 kernels and int8 attention close to f32. What sparq does not compute
# is a one-line error.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="alice lived in paris for ten years before she moved to berlin ."
T2="the movie was great !"

"$SPARQ" prune "$FIX/tiny_nomic" "$TMP/p90" --sparsity 0.9 > "$TMP/prune.txt"
"$SPARQ" inspect "$TMP/p90" > "$TMP/inspect.txt"
for n in attn.Wqkv attn.out_proj mlp.fc11 mlp.fc12 mlp.fc2; do
    grep -q "^encoder.layers.1.$n.weight .* 90\.0[0-9]%" "$TMP/inspect.txt" || { echo "$n:"; cat "$TMP/inspect.txt"; exit 1; }
done
"$SPARQ" inspect "$TMP/p90" --plan --kernels sparse > "$TMP/plan.txt"
grep -q "^encoder.layers.0.mlp.{fc12,fc11}.weight  \[512x32\]  sparsity 90%  f32  spmm" "$TMP/plan.txt" \
    || { cat "$TMP/plan.txt"; exit 1; }
grep -q "NomicBERT: rotary positions" "$TMP/plan.txt"

for m in tiny_nomic tiny_nomic_geglu; do
    "$SPARQ" embed "$FIX/$m" "$T1" "$T2" --pooling mean --threads 2 > "$TMP/$m.jsonl"
done
"$SPARQ" embed "$TMP/p90" "$T1" "$T2" --pooling mean --threads 1 --kernels sparse > "$TMP/p90.jsonl"
SPARQ_NO_STREAM=1 "$SPARQ" embed "$TMP/p90" "$T1" "$T2" --pooling mean --threads 2 --kernels sparse \
    > "$TMP/p90-nostream.jsonl"
for t in "$T1" "$T2"; do "$SPARQ" tokenize "$FIX/tiny_nomic" "$t"; done > "$TMP/tok.jsonl"

PYTHONPATH="$SRC/tools" $PY - "$FIX" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
fix, tmp = sys.argv[1:3]
toks = [json.loads(l) for l in open(f"{tmp}/tok.jsonl")]
n, seq = len(toks), max(len(t["ids"]) for t in toks)
ids = np.zeros((n, seq), np.int64); mask = np.zeros((n, seq), np.int64); types = np.zeros((n, seq), np.int64)
for i, t in enumerate(toks):
    k = len(t["ids"]); ids[i, :k], mask[i, :k], types[i, :k] = t["ids"], 1, t["type_ids"]
for d, out in ((f"{fix}/tiny_nomic", "tiny_nomic"), (f"{fix}/tiny_nomic_geglu", "tiny_nomic_geglu"),
               (f"{tmp}/p90", "p90"), (f"{tmp}/p90", "p90-nostream")):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    h = ref.forward(cfg, w, ids, mask, types)["last_hidden_state"]
    want = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    got = np.array([json.loads(l)["embedding"] for l in open(f"{tmp}/{out}.jsonl")])
    dev = np.abs(got - want).max()
    assert dev <= 1e-4, (out, dev)
    print(f"{out}: max |embedding - reference| {dev:.2e}")
PYEOF

# int8: the quantized copy plans int8 kernels and int8 attention and stays close to f32.
"$SPARQ" quantize "$FIX/tiny_nomic" "$TMP/q" > "$TMP/quant.txt"
grep -q "10 int8 weight matrices" "$TMP/quant.txt" || { cat "$TMP/quant.txt"; exit 1; }
"$SPARQ" inspect "$TMP/q" --plan > "$TMP/q-plan.txt"
grep -q "^encoder.layers.1.mlp.{fc12,fc11}.weight  \[512x32\]  .*int8" "$TMP/q-plan.txt" || { cat "$TMP/q-plan.txt"; exit 1; }
"$SPARQ" embed "$TMP/q" "$T1" "$T2" --pooling mean > "$TMP/q.jsonl"
$PY - "$TMP/tiny_nomic.jsonl" "$TMP/q.jsonl" <<'PYEOF'
import json, sys
import numpy as np
a, b = ([np.array(json.loads(l)["embedding"]) for l in open(p)] for p in sys.argv[1:3])
for x, y in zip(a, b):
    cos = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
    assert cos > 0.999, cos
    assert np.abs(x - y).max() > 0, "int8 equal to f32: not int8"
print("int8: ok")
PYEOF

# What sparq does not compute: one line, non-zero exit.
source "$SRC/tests/cli/lib/configs.bash"
refuses_configs "$FIX/tiny_nomic" embed "$T1" 'c["prenorm"]=True' 'c["activation_function"]="gelu"' \
    'c["rotary_emb_fraction"]=0.5' 'c["rotary_emb_interleaved"]=True' 'c["rotary_emb_scale_base"]=512' \
    'c["causal"]=True' 'c["use_rms_norm"]=True'
echo "nomic: ok"
