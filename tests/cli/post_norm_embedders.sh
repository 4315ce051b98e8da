#!/usr/bin/env bash
# The post-norm gated-MLP embedding families end to end: NomicBERT (nomic-embed-text-v1 / v1.5,
# model_type nomic_bert) and GTE v1.5 (Alibaba-NLP's "new" architecture), both with rotary
# positions, and JinaBERT (jina-embeddings-v2, model_type bert with ALiBi). For each: `embed` of
# its two fixtures equals the PyTorch reference's mean pooling on the ids `sparq tokenize` gives;
# a 90%-pruned copy runs on the sparse kernels — on the packed stream at one thread and
# token-major without it — and equals the reference on its pruned weights; `inspect` lists the
# family's linear weights with their sparsity and the plan the fused gated-MLP input; `quantize`
# writes an int8 copy that runs on int8 kernels and int8 attention close to f32 (with its count
# of int8 matrices). What sparq does not compute is a one-line error.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="alice lived in paris for ten years before she moved to berlin ."
T2="the movie was great !"
source "$SRC/tests/cli/lib/configs.bash"

# check FAMILY FIXTURE FIXTURE2 PLAN-NAME PLAN-LINE INT8-MATRICES LINEAR-NAME...
check() {
    local family="$1" m="$2" m2="$3" plan_name="$4" plan_line="$5" int8="$6"; shift 6
    local d="$TMP/$family"; mkdir -p "$d"
    "$SPARQ" prune "$FIX/$m" "$d/p90" --sparsity 0.9 > "$d/prune.txt"
    "$SPARQ" inspect "$d/p90" > "$d/inspect.txt"
    for n in "$@"; do
        grep -q "^$n .* 90\.0[0-9]%" "$d/inspect.txt" || { echo "$n:"; cat "$d/inspect.txt"; exit 1; }
    done
    "$SPARQ" inspect "$d/p90" --plan --kernels sparse > "$d/plan.txt"
    grep -q "^$plan_name  .*sparsity 90%  f32  spmm" "$d/plan.txt" || { cat "$d/plan.txt"; exit 1; }
    grep -q "$plan_line" "$d/plan.txt" || { cat "$d/plan.txt"; exit 1; }

    "$SPARQ" embed "$FIX/$m" "$T1" "$T2" --pooling mean --threads 2 > "$d/dense.jsonl"
    "$SPARQ" embed "$FIX/$m2" "$T1" "$T2" --pooling mean --threads 1 > "$d/dense2.jsonl"
    "$SPARQ" embed "$d/p90" "$T1" "$T2" --pooling mean --threads 1 --kernels sparse > "$d/p90.jsonl"
    SPARQ_NO_STREAM=1 "$SPARQ" embed "$d/p90" "$T1" "$T2" --pooling mean --threads 2 --kernels sparse \
        > "$d/p90-nostream.jsonl"
    for t in "$T1" "$T2"; do "$SPARQ" tokenize "$FIX/$m" "$t"; done > "$d/tok.jsonl"
    PYTHONPATH="$SRC/tools" $PY - "$FIX/$m" "$FIX/$m2" "$d" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
m, m2, d = sys.argv[1:4]
toks = [json.loads(l) for l in open(f"{d}/tok.jsonl")]
n, seq = len(toks), max(len(t["ids"]) for t in toks)
ids = np.zeros((n, seq), np.int64); mask = np.zeros((n, seq), np.int64); types = np.zeros((n, seq), np.int64)
for i, t in enumerate(toks):
    k = len(t["ids"]); ids[i, :k], mask[i, :k], types[i, :k] = t["ids"], 1, t["type_ids"]
for model, out in ((m, "dense"), (m2, "dense2"), (f"{d}/p90", "p90"), (f"{d}/p90", "p90-nostream")):
    cfg = json.load(open(f"{model}/config.json"))
    w, _, _ = ref.read_safetensors(f"{model}/model.safetensors")
    h = ref.forward(cfg, w, ids, mask, types)["last_hidden_state"]
    want = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    got = np.array([json.loads(l)["embedding"] for l in open(f"{d}/{out}.jsonl")])
    dev = np.abs(got - want).max()
    assert dev <= 1e-4, (model, out, dev)
    print(f"{model.split('/')[-1]} {out}: max |embedding - reference| {dev:.2e}")
PYEOF

    # int8: the quantized copy plans int8 kernels and int8 attention and stays close to f32.
    "$SPARQ" quantize "$FIX/$m" "$d/q" > "$d/quant.txt"
    grep -q "$int8 int8 weight matrices" "$d/quant.txt" || { cat "$d/quant.txt"; exit 1; }
    "$SPARQ" inspect "$d/q" --plan > "$d/q-plan.txt"
    grep -q "^$plan_name  .*int8" "$d/q-plan.txt" || { cat "$d/q-plan.txt"; exit 1; }
    "$SPARQ" embed "$d/q" "$T1" "$T2" --pooling mean > "$d/q.jsonl"
    $PY - "$d/dense.jsonl" "$d/q.jsonl" <<'PYEOF'
import json, sys
import numpy as np
a, b = ([np.array(json.loads(l)["embedding"]) for l in open(p)] for p in sys.argv[1:3])
for x, y in zip(a, b):
    cos = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
    assert cos > 0.999, cos
    assert np.abs(x - y).max() > 0, "int8 equal to f32: not int8"
PYEOF
    echo "$family: ok"
}

check nomic tiny_nomic tiny_nomic_geglu "encoder.layers.0.mlp.{fc12,fc11}.weight  \[512x32\]" \
    "NomicBERT: rotary positions" 10 \
    encoder.layers.1.attn.Wqkv.weight encoder.layers.1.attn.out_proj.weight \
    encoder.layers.1.mlp.fc11.weight encoder.layers.1.mlp.fc12.weight encoder.layers.1.mlp.fc2.weight
refuses_configs "$FIX/tiny_nomic" embed "$T1" 'c["prenorm"]=True' 'c["activation_function"]="gelu"' \
    'c["rotary_emb_fraction"]=0.5' 'c["rotary_emb_interleaved"]=True' 'c["rotary_emb_scale_base"]=512' \
    'c["causal"]=True' 'c["use_rms_norm"]=True'

check gte tiny_gte tiny_gte_silu "encoder.layer.0.mlp.up_gate_proj.weight  \[160x32\]" \
    "GTE: rotary positions" 8 \
    encoder.layer.1.attention.qkv_proj.weight encoder.layer.1.attention.o_proj.weight \
    encoder.layer.1.mlp.up_gate_proj.weight encoder.layer.1.mlp.down_proj.weight
# NewForSequenceClassification (gte-multilingual-reranker-base's head): NewModel under "new."
# with its pooler (tanh on the first token) and a one-label classifier; `rerank` scores are the
# sigmoid of the reference's logit.
PYTHONPATH="$SRC/tools" $PY - "$FIX/tiny_gte" "$TMP/gte_rr" <<'PYEOF'
import json, shutil, sys
import numpy as np
import bert_reference as ref
src, dst = sys.argv[1:3]
shutil.copytree(src, dst)
w, _, _ = ref.read_safetensors(f"{dst}/model.safetensors")
rng = np.random.default_rng(3)
w = {"new." + k: v for k, v in w.items()}
w["new.pooler.dense.weight"] = (rng.standard_normal((32, 32)) * 0.2).astype(np.float32)
w["new.pooler.dense.bias"] = (rng.standard_normal(32) * 0.05).astype(np.float32)
w["classifier.weight"] = (rng.standard_normal((1, 32)) * 0.5).astype(np.float32)
w["classifier.bias"] = np.array([0.1], np.float32)
ref.write_safetensors(f"{dst}/model.safetensors", w)
c = json.load(open(f"{dst}/config.json"))
c["architectures"] = ["NewForSequenceClassification"]
c["id2label"], c["label2id"] = {"0": "LABEL_0"}, {"LABEL_0": 0}
json.dump(c, open(f"{dst}/config.json", "w"), indent=2)
PYEOF
"$SPARQ" rerank "$TMP/gte_rr" --query "$T2" "$T1" "who wrote the book ?" > "$TMP/rr.jsonl"
for t in "$T1" "who wrote the book ?"; do "$SPARQ" tokenize "$TMP/gte_rr" "$T2" --pair "$t"; done > "$TMP/rr-tok.jsonl"
PYTHONPATH="$SRC/tools" $PY - "$TMP/gte_rr" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d, tmp = sys.argv[1:3]
cfg = json.load(open(f"{d}/config.json"))
w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
base = {k[len("new."):]: v for k, v in w.items() if k.startswith("new.") and "pooler" not in k}
toks = [json.loads(l) for l in open(f"{tmp}/rr-tok.jsonl")]
want = []
for t in toks:
    ids = np.array([t["ids"]]); mask = np.ones_like(ids); types = np.array([t["type_ids"]])
    h = ref.forward(dict(cfg, architectures=["NewModel"]), base, ids, mask, types)["last_hidden_state"][0, 0]
    pooled = np.tanh(w["new.pooler.dense.weight"].astype(np.float64) @ h + w["new.pooler.dense.bias"])
    logit = float(w["classifier.weight"][0].astype(np.float64) @ pooled + w["classifier.bias"][0])
    want.append(1 / (1 + np.exp(-logit)))
got = {j["index"]: j["score"] for j in map(json.loads, open(f"{tmp}/rr.jsonl"))}
for i, p in enumerate(want):
    assert abs(got[i] - p) <= 1e-5, (i, got[i], p)
print("gte reranker: ok", [round(p, 6) for p in want])
PYEOF
refuses_configs "$FIX/tiny_gte" embed "$T1" 'c["layer_norm_type"]="rms_norm"' \
    'c["position_embedding_type"]="absolute"' 'c["logn_attention_scale"]=True' 'c["pack_qkv"]=False' \
    'c["rope_scaling"]={"type": "linear", "factor": 2.0}' \
    'c["rope_scaling"]={"type": "ntk", "factor": 2.0, "mixed_b": 0.5}' 'c["hidden_act"]="relu"'
check jina tiny_jina tiny_jina_cls "encoder.layer.0.mlp.gated_layers.weight  \[128x48\]" \
    "JinaBERT: ALiBi" 12 \
    encoder.layer.1.attention.self.query.weight encoder.layer.1.attention.self.value.weight \
    encoder.layer.1.attention.output.dense.weight encoder.layer.1.mlp.gated_layers.weight \
    encoder.layer.1.mlp.wo.weight
refuses_configs "$FIX/tiny_jina" embed "$T1" 'c["feed_forward_type"]="reglu"' \
    'del c["feed_forward_type"]'
# The qk-post-norm variant (jina-embeddings-v2-base-code): LayerNorms on Q and K, layer_norm_1,
# up_gated_layer's gate second; its layers run token-major (no packed stream).
check jina_code tiny_jina_code tiny_jina_code "encoder.layer.0.mlp.up_gated_layer.weight  \[128x48\]" \
    "JinaBERT: ALiBi" 12 \
    encoder.layer.1.attention.self.query.weight encoder.layer.1.mlp.up_gated_layer.weight \
    encoder.layer.1.mlp.down_layer.weight
echo "post-norm embedders: ok"
