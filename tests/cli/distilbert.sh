#!/usr/bin/env bash
# DistilBERT end to end, as a user runs it: `sparq classify` on the fixture's WordPiece vocabulary
# equals the independent PyTorch reference (tools/bert_reference.py, modeling_distilbert
# semantics) run on the tokenizer's ids; a question-answering pair (token types 0/1, which
# DistilBERT ignores) answers inside the context with the reference's logits; `sparq prune`
# finds DistilBERT's linear weights by their own names and `sparq inspect` reports their
# sparsity; `sparq quantize` writes int8 copies of the same 12 matrices and keeps the labels.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_distilbert_cls"
Q="$SRC/tests/fixtures/tiny_distilbert_qa"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="the movie was great !"
T2="i did not like this film at all , it was really boring ."
QN="where did alice live ?"
CT="alice lived in paris for ten years before she moved to berlin ."

"$SPARQ" tokenize "$M" "$T1" "$T2" > "$TMP/tok.jsonl"
"$SPARQ" classify "$M" "$T1" "$T2" --threads 1 > "$TMP/cls.jsonl"
"$SPARQ" tokenize "$Q" "$QN" --pair "$CT" > "$TMP/qtok.jsonl"
"$SPARQ" classify "$Q" --question "$QN" --context "$CT" --threads 2 > "$TMP/qa.jsonl"
"$SPARQ" inspect "$M" --plan > "$TMP/plan.txt"
grep -q "architecture  DistilBertForSequenceClassification (distilbert" "$TMP/plan.txt"
grep -q "^pre_classifier.weight" "$TMP/plan.txt"
PYTHONPATH="$SRC/tools" $PY - "$M" "$Q" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
m, q, tmp = sys.argv[1:4]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]

def run(d, seqs, types):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    n = max(len(s) for s in seqs)
    ids = [s + [0] * (n - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (n - len(s)) for s in seqs]
    return ref.forward(cfg, w, ids, mask, [t + [0] * (n - len(t)) for t in types])

toks = lines("tok")
out = run(m, [t["ids"] for t in toks], [t["type_ids"] for t in toks])
labels = ["negative", "positive"]
for k, c in enumerate(lines("cls")):
    logits = out["logits"][k]
    p = np.exp(logits - logits.max()); p /= p.sum()
    assert c["label"] == labels[int(np.argmax(p))], (c, p)
    for lab, s in c["scores"].items():
        assert abs(s - p[labels.index(lab)]) < 1e-4, (c, p)
qt = lines("qtok")[0]
assert 1 in qt["type_ids"], qt                      # a pair: the context has type 1
o = run(q, [qt["ids"]], [qt["type_ids"]])
st, en = o["start_logits"][0], o["end_logits"][0]
a = lines("qa")[0]
ctx = [i for i, t in enumerate(qt["type_ids"]) if t == 1][:-1]   # context tokens without [SEP]
assert a["start"] in ctx and a["end"] in ctx and a["start"] <= a["end"], (a, ctx)
best = max(st[i] + en[j] for i in ctx for j in ctx if i <= j < i + 30)
assert abs(a["score"] - best) < 1e-4, (a["score"], best)
print("distilbert classify / qa: ok")
PYEOF

# Prune by DistilBERT's names, inspect, quantize.
"$SPARQ" prune "$M" "$TMP/p90" --sparsity 0.9 > "$TMP/prune.txt"
grep -q "pruned 12 matrices" "$TMP/prune.txt" || { cat "$TMP/prune.txt"; exit 1; }
grep -q "^distilbert.transformer.layer.1.ffn.lin1.weight" "$TMP/prune.txt"
"$SPARQ" inspect "$TMP/p90" > "$TMP/insp.txt"
grep -Eq "^encoder sparsity  90\.0[0-9]%" "$TMP/insp.txt" || { cat "$TMP/insp.txt"; exit 1; }
"$SPARQ" quantize "$TMP/p90" "$TMP/q" > "$TMP/quant.txt"
grep -q "12 int8 weight matrices" "$TMP/quant.txt" || { cat "$TMP/quant.txt"; exit 1; }
a=$("$SPARQ" classify "$TMP/p90" "$T1" "$T2" --threads 1 | $PY -c 'import json,sys; print([json.loads(l)["label"] for l in sys.stdin])')
b=$("$SPARQ" classify "$TMP/q" "$T1" "$T2" --threads 1 | $PY -c 'import json,sys; print([json.loads(l)["label"] for l in sys.stdin])')
[ "$a" = "$b" ] || { echo "int8 labels $b differ from f32 $a"; exit 1; }
echo "distilbert prune / inspect / quantize: ok"
