#!/usr/bin/env bash
# ModernBERT end to end, as a user runs it, against the independent PyTorch reference
# (tools/bert_reference.py, modeling_modernbert semantics) on the tokenizer's ids:
# - `classify` on tiny_modernbert_cls (mean pooling, biases, a 16-token window over texts longer
#   than it) and on its 90%-pruned copy on sparse kernels at 2 threads;
# - `prune` finds the 16 linear weights by ModernBERT's names (Wqkv, Wo, Wi, Wo), `inspect` reports
#   their sparsity, `quantize` writes int8 copies that run on int8 kernels with int8 attention
#   (the window mask inside it) and keep the labels;
# - `fill-mask` on tiny_modernbert (ModernBertForMaskedLM) gives the reference's top tokens;
# - question answering on tiny_modernbert_qa picks the reference's best span;
# - configs sparq does not compute are one-line errors.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
M="$FX/tiny_modernbert_cls"
T1="The movie was great!"
T2="I did not like this film at all, it was really boring and far too long for what it had."
T3="who wrote the book? The book was written by a famous writer in London."

"$SPARQ" tokenize "$M" "$T1" "$T2" "$T3" > "$TMP/tok.jsonl"
"$SPARQ" classify "$M" "$T1" "$T2" "$T3" --threads 1 > "$TMP/cls.jsonl"
"$SPARQ" inspect "$M" --plan > "$TMP/plan.txt"
grep -q "^architecture  ModernBertForSequenceClassification" "$TMP/plan.txt" || { cat "$TMP/plan.txt"; exit 1; }
grep -q "^layers.1.attn.Wqkv.weight  \[96x32\]" "$TMP/plan.txt" || { cat "$TMP/plan.txt"; exit 1; }
grep -q "ModernBERT: rotary positions, local attention within +-8 tokens, global in every 3 layers" "$TMP/plan.txt" ||
    { cat "$TMP/plan.txt"; exit 1; }

"$SPARQ" prune "$M" "$TMP/p90" --sparsity 0.9 > "$TMP/prune.txt"
grep -q "pruned 16 matrices" "$TMP/prune.txt" || { cat "$TMP/prune.txt"; exit 1; }
grep -q "^model.layers.3.mlp.Wi.weight" "$TMP/prune.txt" || { cat "$TMP/prune.txt"; exit 1; }
if grep -q "head.dense\|tok_embeddings" "$TMP/prune.txt"; then
    echo "prune touched the head or the embeddings"; cat "$TMP/prune.txt"; exit 1
fi
"$SPARQ" inspect "$TMP/p90" > "$TMP/insp.txt"
grep -Eq "^encoder sparsity  90\.0[0-9]%" "$TMP/insp.txt" || { cat "$TMP/insp.txt"; exit 1; }
"$SPARQ" classify "$TMP/p90" "$T1" "$T2" "$T3" --threads 2 --kernels sparse > "$TMP/p90-cls.jsonl"
# One thread: the hidden states on the packed stream between the sparse kernels (rotary, window,
# gated GELU and pre-norm LayerNorms on it); without it (SPARQ_NO_STREAM) the same labels.
"$SPARQ" classify "$TMP/p90" "$T1" "$T2" "$T3" --threads 1 --kernels sparse > "$TMP/p90-cls1.jsonl"
SPARQ_NO_STREAM=1 "$SPARQ" classify "$TMP/p90" "$T1" "$T2" "$T3" --threads 1 --kernels sparse \
    > "$TMP/p90-nostream.jsonl"
"$SPARQ" inspect "$TMP/p90" --plan --kernels sparse > "$TMP/p90-plan.txt"
grep -q "^layers.0.mlp.Wo.weight  \[32x48\]  sparsity 90.*spmm" "$TMP/p90-plan.txt" ||
    { cat "$TMP/p90-plan.txt"; exit 1; }

"$SPARQ" quantize "$TMP/p90" "$TMP/q" > "$TMP/quant.txt"
grep -q "16 int8 weight matrices" "$TMP/quant.txt" || { cat "$TMP/quant.txt"; exit 1; }
"$SPARQ" inspect "$TMP/q" --plan > "$TMP/q-plan.txt"
grep -q "^layers.1.attn.Wqkv.weight  \[96x32\]  .*int8" "$TMP/q-plan.txt" || { cat "$TMP/q-plan.txt"; exit 1; }
for att in f32 int8; do
    "$SPARQ" classify "$TMP/q" "$T1" "$T2" "$T3" --threads 2 --attention $att > "$TMP/q-$att.jsonl"
done

# Texts of 79 and 118 tokens, past 8 windows: the local layers' attention on the keys their
# windows reach (f32: query blocks against their keys; int8: blocks of 2 windows run with a window
# of context each side), against every key under the mask (SPARQ_NO_BAND=1) and the reference.
# (The int8 copy of the dense model: the pruned one's V is too small for the context to show.)
TL="$T2 $T2"; TL3="$T2 $T2 $T2"
"$SPARQ" quantize "$M" "$TMP/qd" > /dev/null
"$SPARQ" tokenize "$M" "$TL" "$TL3" > "$TMP/tok-long.jsonl"
for band in 1 0; do
    NB=""; [ $band = 0 ] && NB="SPARQ_NO_BAND=1"
    env $NB "$SPARQ" classify "$M" "$TL" "$TL3" --threads 1 > "$TMP/long-f32-$band.jsonl"
    env $NB "$SPARQ" classify "$TMP/qd" "$TL" "$TL3" --threads 1 --attention int8 \
        > "$TMP/long-int8-$band.jsonl"
    env $NB "$SPARQ" embed "$TMP/qd" "$TL3" --pooling none --threads 1 --attention int8 \
        > "$TMP/long-int8-hidden-$band.jsonl"
    env $NB "$SPARQ" embed "$M" "$TL3" --pooling none --threads 1 > "$TMP/long-f32-hidden-$band.jsonl"
done

"$SPARQ" fill-mask "$FX/tiny_modernbert" "The capital of France is [MASK]." --top-k 3 \
    > "$TMP/fill.jsonl"
"$SPARQ" tokenize "$FX/tiny_modernbert" "The capital of France is [MASK]." > "$TMP/fill-tok.jsonl"

PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" "$FX/tiny_modernbert" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
m, tmp, mlm = sys.argv[1:4]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]
toks = lines("tok")
assert max(len(t["ids"]) for t in toks) > 2 * 8 + 1, "a text longer than the window"

def run(d, toks):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    n = max(len(t["ids"]) for t in toks)
    pad = lambda s: s + [0] * (n - len(s))
    return ref.forward(cfg, w, [pad(t["ids"]) for t in toks],
                       [pad([1] * len(t["ids"])) for t in toks], [pad(t["type_ids"]) for t in toks])

def probs(logits):
    p = np.exp(logits - logits.max())
    return p / p.sum()

for model, res in ((m, "cls"), (f"{tmp}/p90", "p90-cls"), (f"{tmp}/p90", "p90-cls1"),
                   (f"{tmp}/p90", "p90-nostream")):
    out = run(model, toks)
    for k, c in enumerate(lines(res)):
        p = probs(np.asarray(out["logits"][k]))
        assert c["label"] == ["negative", "positive"][int(np.argmax(p))], (res, c, p)
        for lab, s in c["scores"].items():
            assert abs(s - p[["negative", "positive"].index(lab)]) < 1e-4, (res, c, p)
# Long texts: f32 with and without the band equal the reference; int8 banded within 2e-3 of int8
# over every key (V's int8 scales come from each block's tokens) and 0.03 of f32.
long = lines("tok-long")
assert min(len(t["ids"]) for t in long) > 8 * 8, "texts past 8 windows"
out = run(m, long)
for res in ("long-f32-1", "long-f32-0"):
    for k, c in enumerate(lines(res)):
        p = probs(np.asarray(out["logits"][k]))
        assert c["label"] == ["negative", "positive"][int(np.argmax(p))], (res, c, p)
        for lab, s in c["scores"].items():
            assert abs(s - p[["negative", "positive"].index(lab)]) < 1e-4, (res, c, p)
# Every token's hidden state: f32 banded as every key (1e-5), int8 within 0.01 (|h| up to ~3.4;
# a block's context rows written to the wrong tokens differ by O(1)).
for kind, tol in (("f32", 1e-5), ("int8", 0.01)):
    a, b = (np.asarray(lines(f"long-{kind}-hidden-{band}")[0]["hidden"]) for band in (1, 0))
    assert a.shape == b.shape and a.shape[0] > 8 * 8, a.shape
    assert np.abs(a - b).max() < tol, (kind, np.abs(a - b).max())
for a, b, f in zip(lines("long-int8-1"), lines("long-int8-0"), lines("long-f32-1")):
    assert a["label"] == b["label"] == f["label"], (a, b, f)
    assert abs(a["score"] - b["score"]) < 2e-3, (a, b)
    assert abs(a["score"] - f["score"]) < 0.03, (a, f)
# int8: the pruned model's labels; scores near the f32 ones (int8 attention too).
f32 = lines("p90-cls")
for att in ("f32", "int8"):
    for a, b in zip(f32, lines(f"q-{att}")):
        assert a["label"] == b["label"], (att, a, b)
        assert abs(a["score"] - b["score"]) < 0.03, (att, a, b)
# fill-mask: the reference's three best tokens at the mask, with their probabilities.
ids = lines("fill-tok")[0]["ids"]
pos = ids.index(4)
cfg = json.load(open(f"{mlm}/config.json"))
w, _, _ = ref.read_safetensors(f"{mlm}/model.safetensors")
o = ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])
logits = np.asarray(o["mlm_logits"][0][pos])
p = probs(logits)
best = list(np.argsort(-logits)[:3])
fills = lines("fill")[0]["masks"][0]["predictions"]
assert [f["token"] for f in fills] == best, (fills, best)
for f in fills:
    assert abs(f["score"] - p[f["token"]]) < 1e-5, (f, p[f["token"]])
print("modernbert classify (f32, pruned on sparse kernels), int8, fill-mask: match the reference")
PYEOF

# A bare ModernBertModel (names without "model.", no head: how sentence-transformers saves one)
# embeds as the masked-LM checkpoint's encoder does.
PYTHONPATH="$SRC/tools" $PY - "$FX/tiny_modernbert" "$TMP/bare" <<'PYEOF'
import json, os, shutil, sys
import bert_reference as ref
src, dst = sys.argv[1:3]
os.makedirs(dst)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(f"{src}/{f}", dst)
w, _, _ = ref.read_safetensors(f"{src}/model.safetensors")
ref.write_safetensors(f"{dst}/model.safetensors",
                      {k[len("model."):]: v for k, v in w.items() if k.startswith("model.")})
c = json.load(open(f"{src}/config.json"))
c["architectures"] = ["ModernBertModel"]
json.dump(c, open(f"{dst}/config.json", "w"))
PYEOF
"$SPARQ" embed "$TMP/bare" "$T1" "$T2" --pooling mean > "$TMP/bare.jsonl"
"$SPARQ" embed "$FX/tiny_modernbert" "$T1" "$T2" --pooling mean > "$TMP/mlm.jsonl"
cmp "$TMP/bare.jsonl" "$TMP/mlm.jsonl"
if "$SPARQ" fill-mask "$TMP/bare" "a [MASK] b" 2> "$TMP/err.txt"; then echo "bare fill-mask"; exit 1; fi
grep -q "no masked-LM head" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }

# Question answering (tiny_modernbert_qa: the prediction head and a 2-column classifier on every
# token): the best span of the reference's start / end logits within the context (token type 1),
# its score, and the answer is the context's text under the span's offsets (with the space a
# leading "Ġ" stands for: a TemplateProcessing tokenizer.json does not trim offsets).
QA="$FX/tiny_modernbert_qa"
args=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]=="pair"][0]; print(c["texts"][0][0]); print(c["texts"][0][1])' "$QA/reference.json")
q=$(printf '%s\n' "$args" | sed -n 1p); ctx=$(printf '%s\n' "$args" | sed -n 2p)
for L in 15 3; do
    "$SPARQ" classify "$QA" --question "$q" --context "$ctx" --max-answer-len $L --threads 2 > "$TMP/qa.json"
    $PY - "$QA" "$TMP/qa.json" "$L" "$ctx" <<'PYEOF'
import json, sys
d, got, L, ctx = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == "pair"][0]
s, e, tt = ref["start_logits"][0], ref["end_logits"][0], ref["token_type_ids"][0]
n = sum(ref["attention_mask"][0])
ok = [i for i in range(n - 1) if tt[i] == 1]  # the context, without the last [SEP]
best = max((s[i] + e[j], i, j) for i in ok for j in ok if i <= j < i + L)
assert (got["start"], got["end"]) == (best[1], best[2]), (got, best)
assert abs(got["score"] - best[0]) < 1e-4, (got["score"], best[0])
toks = ref["tokens"][0][best[1]:best[2] + 1]
want = "".join(toks).replace("\u0120", " ")  # ASCII text: byte-level pieces are the text
assert got["answer"] == want and want in ctx, (got["answer"], want)
PYEOF
done
if "$SPARQ" classify "$QA" "$T1" 2> "$TMP/err.txt"; then echo "QA without a question"; exit 1; fi

# What sparq does not compute: one line, non-zero exit.
source "$SRC/tests/cli/lib/configs.bash"
refuses_configs "$M" classify "$T1" 'c["classifier_pooling"]="max"' 'c["hidden_activation"]="silu"' \
    'c["architectures"]=["ModernBertForCausalLM"]' 'c["global_rope_theta"]=0.5'
echo "modernbert: prune, inspect, quantize, errors: ok"
