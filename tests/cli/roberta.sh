#!/usr/bin/env bash
# RoBERTa end to end, as a user runs it: `sparq tokenize` on the fixture's byte-level BPE
# tokenizer gives <s> ... </s> (and <s> A </s></s> B </s> for pairs, one token type), and
# `sparq classify` / `sparq embed` on those texts equal the independent PyTorch reference
# (tools/bert_reference.py) run on the same ids: the tokenizer, RoBERTa positions and the
# classification head wired together.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_roberta_cls"
B="$SRC/tests/fixtures/tiny_roberta"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="The movie was great!"
T2="I did not like this film at all, it was boring."

"$SPARQ" tokenize "$M" "$T1" "$T2" > "$TMP/tok.jsonl"
"$SPARQ" tokenize "$M" "$T1" --pair "$T2" > "$TMP/pair.jsonl"
"$SPARQ" classify "$M" "$T1" "$T2" --threads 1 > "$TMP/cls.jsonl"
"$SPARQ" embed "$B" "$T1" --pooling cls --threads 1 > "$TMP/emb.jsonl"
"$SPARQ" tokenize "$B" "$T1" > "$TMP/tokb.jsonl"
# tokenize truncates as the model does: max_position_embeddings 130 less pad + 1 = 128 tokens.
long=$(printf 'hello %.0s' $(seq 300))
n=$("$SPARQ" tokenize "$B" "$long" | $PY -c 'import json,sys; print(len(json.loads(sys.stdin.readline())["ids"]))')
[ "$n" = 128 ] || { echo "tokenize kept $n tokens of a long text, expected 128"; exit 1; }
PYTHONPATH="$SRC/tools" $PY - "$M" "$B" "$TMP" <<'PYEOF'
import json, math, sys
import numpy as np
import bert_reference as ref
m, b, tmp = sys.argv[1:4]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]
toks, pair = lines("tok"), lines("pair")[0]
for t in toks:
    assert t["ids"][0] == 0 and t["ids"][-1] == 2, t          # <s> ... </s>
    assert set(t["type_ids"]) == {0}, t
ids = pair["ids"]
assert ids[0] == 0 and ids[-1] == 2 and [i for i, x in enumerate(ids) if x == 2][:2] == \
    [ids.index(2), ids.index(2) + 1], ids                     # <s> A </s></s> B </s>

def run(d, seqs):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    n = max(len(s) for s in seqs)
    pad = cfg["pad_token_id"]
    ids = [s + [pad] * (n - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (n - len(s)) for s in seqs]
    return ref.forward(cfg, w, ids, mask, [[0] * n for _ in seqs])

out = run(m, [t["ids"] for t in toks])
for k, c in enumerate(lines("cls")):
    logits = out["logits"][k]
    p = np.exp(logits - logits.max()); p /= p.sum()
    labels = ["negative", "positive"]
    assert c["label"] == labels[int(np.argmax(p))], (c, p)
    for lab, s in c["scores"].items():
        assert abs(s - p[labels.index(lab)]) < 1e-4, (c, p)
eb = run(b, [lines("tokb")[0]["ids"]])["last_hidden_state"][0][0]
got = lines("emb")[0]["embedding"]
assert max(abs(x - y) for x, y in zip(got, eb)) < 1e-4
print("roberta end to end: ok")
PYEOF
