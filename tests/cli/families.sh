#!/usr/bin/env bash
# DistilBERT, ELECTRA and MPNet end to end, as a user runs them. For each family's sequence
# classifier: `sparq classify` on the fixture's WordPiece vocabulary equals the independent PyTorch
# reference (tools/bert_reference.py: modeling_distilbert / modeling_electra / modeling_mpnet
# semantics) run on the tokenizer's ids (for MPNet also the 90%-pruned copy, on sparse kernels); `sparq prune` finds the 12 linear weights by the family's own names and
# `sparq inspect` reports their sparsity; `sparq quantize` writes int8 copies of the same 12
# matrices and keeps the pruned model's labels (MPNet's int8 model keeps f32 attention, which adds
# its relative position bias). DistilBERT question answering: a pair (token
# types 0/1, which DistilBERT ignores) answers inside the context with the reference's score.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="the movie was great !"
T2="i did not like this film at all , it was really boring ."
QN="where did alice live ?"
CT="alice lived in paris for ten years before she moved to berlin ."
labels() { $PY -c 'import json,sys; print([json.loads(l)["label"] for l in sys.stdin])'; }

for fam in distilbert electra mpnet; do
    M="$FX/tiny_${fam}_cls"
    "$SPARQ" tokenize "$M" "$T1" "$T2" > "$TMP/$fam-tok.jsonl"
    "$SPARQ" classify "$M" "$T1" "$T2" --threads 1 > "$TMP/$fam-cls.jsonl"
    "$SPARQ" inspect "$M" --plan > "$TMP/$fam-plan.txt"
    grep -qi "^architecture  ${fam}For" "$TMP/$fam-plan.txt" || { cat "$TMP/$fam-plan.txt"; exit 1; }
    "$SPARQ" prune "$M" "$TMP/$fam-p90" --sparsity 0.9 > "$TMP/$fam-prune.txt"
    grep -q "pruned 12 matrices" "$TMP/$fam-prune.txt" || { cat "$TMP/$fam-prune.txt"; exit 1; }
    "$SPARQ" inspect "$TMP/$fam-p90" > "$TMP/$fam-insp.txt"
    grep -Eq "^encoder sparsity  90\.0[0-9]%" "$TMP/$fam-insp.txt" || { cat "$TMP/$fam-insp.txt"; exit 1; }
    "$SPARQ" quantize "$TMP/$fam-p90" "$TMP/$fam-q" > "$TMP/$fam-quant.txt"
    grep -q "12 int8 weight matrices" "$TMP/$fam-quant.txt" || { cat "$TMP/$fam-quant.txt"; exit 1; }
    a=$("$SPARQ" classify "$TMP/$fam-p90" "$T1" "$T2" --threads 1 | labels)
    b=$("$SPARQ" classify "$TMP/$fam-q" "$T1" "$T2" --threads 1 | labels)
    [ "$a" = "$b" ] || { echo "$fam: int8 labels $b differ from f32 $a"; exit 1; }
done
grep -q "^distilbert.transformer.layer.1.ffn.lin1.weight" "$TMP/distilbert-prune.txt"
grep -q "^mpnet.encoder.layer.1.attention.attn.o.weight" "$TMP/mpnet-prune.txt"
"$SPARQ" classify "$TMP/mpnet-p90" "$T1" "$T2" --threads 2 --kernels sparse > "$TMP/mpnet-p90-cls.jsonl"
"$SPARQ" inspect "$TMP/mpnet-q" --plan > "$TMP/mpnet-q-plan.txt"
grep -q "^attention  f32  (auto: MPNet's relative position bias" "$TMP/mpnet-q-plan.txt" ||
    { cat "$TMP/mpnet-q-plan.txt"; exit 1; }
grep -q "^pre_classifier.weight" "$TMP/distilbert-plan.txt"
grep -q "^embeddings_project.weight  \[32x16\]" "$TMP/electra-plan.txt"

Q="$FX/tiny_distilbert_qa"
"$SPARQ" tokenize "$Q" "$QN" --pair "$CT" > "$TMP/qtok.jsonl"
"$SPARQ" classify "$Q" --question "$QN" --context "$CT" --threads 2 > "$TMP/qa.jsonl"
PYTHONPATH="$SRC/tools" $PY - "$FX" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
fx, tmp = sys.argv[1:3]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]

def run(d, toks):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    n = max(len(t["ids"]) for t in toks)
    pad = lambda s: s + [0] * (n - len(s))
    return ref.forward(cfg, w, [pad(t["ids"]) for t in toks],
                       [pad([1] * len(t["ids"])) for t in toks], [pad(t["type_ids"]) for t in toks])

for fam, model, res in (("distilbert", f"{fx}/tiny_distilbert_cls", "distilbert-cls"),
                        ("electra", f"{fx}/tiny_electra_cls", "electra-cls"),
                        ("mpnet", f"{fx}/tiny_mpnet_cls", "mpnet-cls"),
                        ("mpnet", f"{tmp}/mpnet-p90", "mpnet-p90-cls")):
    toks = lines(f"{fam}-tok")
    out = run(model, toks)
    labels = ["negative", "positive"]
    for k, c in enumerate(lines(res)):
        logits = out["logits"][k]
        p = np.exp(logits - logits.max()); p /= p.sum()
        assert c["label"] == labels[int(np.argmax(p))], (fam, c, p)
        for lab, s in c["scores"].items():
            assert abs(s - p[labels.index(lab)]) < 1e-4, (fam, c, p)
qt = lines("qtok")[0]
assert 1 in qt["type_ids"], qt                      # a pair: the context has type 1
o = run(f"{fx}/tiny_distilbert_qa", [qt])
st, en = o["start_logits"][0], o["end_logits"][0]
a = lines("qa")[0]
ctx = [i for i, t in enumerate(qt["type_ids"]) if t == 1][:-1]   # context tokens without [SEP]
assert a["start"] in ctx and a["end"] in ctx and a["start"] <= a["end"], (a, ctx)
best = max(st[i] + en[j] for i in ctx for j in ctx if i <= j < i + 30)
assert abs(a["score"] - best) < 1e-4, (a["score"], best)
print("distilbert / electra / mpnet classify, distilbert qa: match the reference")
PYEOF
echo "distilbert / electra / mpnet prune, inspect, quantize: ok"
