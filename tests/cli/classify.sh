#!/usr/bin/env bash
# sparq classify gives the PyTorch reference answer of the fixtures: sequence classification
# (label and softmax score, f32/f16/sparse weights), token classification (per-token labels) and
# question answering (best span from the reference logits).
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"

check_seq() {  # check_seq MODEL CASE
  local m="$1" case="$2" text pair out
  text=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]==sys.argv[2]][0]; print(c["texts"][0][0])' "$FIX/$m/reference.json" "$case")
  pair=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]==sys.argv[2]][0]; p=c["texts"][0][1]; print("" if p is None else p)' "$FIX/$m/reference.json" "$case")
  if [ -n "$pair" ]; then out=$("$SPARQ" classify "$FIX/$m" "$text" --pair "$pair")
  else out=$("$SPARQ" classify "$FIX/$m" "$text"); fi
  $PY - "$FIX/$m" "$case" "$out" <<'PYEOF'
import json, math, sys
d, case, got = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == case][0]
cfg = json.load(open(d + "/config.json"))
logits = ref["logits"][0]
m = max(logits); e = [math.exp(x - m) for x in logits]; p = [x / sum(e) for x in e]
best = max(range(len(p)), key=lambda i: p[i])
label = cfg["id2label"][str(best)]
assert got["label"] == label, (got, label)
assert abs(got["score"] - p[best]) < 1e-4, (got["score"], p[best])
for i, q in enumerate(p):
    assert abs(got["scores"][cfg["id2label"][str(i)]] - q) < 1e-4, (got["scores"], p)
PYEOF
}
for m in tiny_cls tiny_f16 tiny_sparse; do
  for case in sentence pair; do check_seq "$m" "$case"; done
done

# --top-k keeps the K most probable labels.
out=$("$SPARQ" classify "$FIX/tiny_cls" "the movie was great !" --top-k 1)
$PY -c 'import json,sys; d=json.loads(sys.argv[1]); assert list(d["scores"])==[d["label"]], d' "$out"

# Token classification: argmax label of every non-special token.
text=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]=="sentence"][0]; print(c["texts"][0][0])' "$FIX/tiny_tok/reference.json")
out=$("$SPARQ" classify "$FIX/tiny_tok" "$text")
$PY - "$FIX/tiny_tok" "$out" <<'PYEOF'
import json, sys
d, got = sys.argv[1], json.loads(sys.argv[2])
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == "sentence"][0]
cfg = json.load(open(d + "/config.json"))
toks = ref["tokens"][0]
want = [(t, cfg["id2label"][str(max(range(len(l)), key=lambda i: l[i]))])
        for t, l in zip(toks, ref["logits"][0]) if t not in ("[CLS]", "[SEP]", "[PAD]")]
have = [(x["token"], x["label"]) for x in got["tokens"]]
assert have == want, (have, want)
# Entities as HF's pipeline (aggregation_strategy="simple", group_entities) builds them from the
# reference logits: B- starts a group, a type change ends one, "O" groups dropped, score = mean
# probability; start/end located here by walking the word pieces through the text.
import numpy as np
text = ref["texts"][0][0]
pos, spans = 0, []
for t in toks:
    if t in ("[CLS]", "[SEP]", "[PAD]"):
        spans.append(None); continue
    piece = t[2:] if t.startswith("##") else t
    while text[pos] == " ": pos += 1
    assert text[pos:pos + len(piece)].lower() == piece, (text[pos:], piece)
    spans.append((pos, pos + len(piece))); pos += len(piece)
ents = []
for t, l, sp in zip(toks, ref["logits"][0], spans):
    if sp is None: continue
    p = np.exp(np.array(l) - max(l)); p /= p.sum()
    lab = cfg["id2label"][str(int(np.argmax(p)))]
    bi, tag = (lab[0], lab[2:]) if lab[:2] in ("B-", "I-") else ("I", lab)
    if ents and ents[-1]["tag"] == tag and bi != "B":
        ents[-1]["scores"].append(float(p.max())); ents[-1]["end"] = sp[1]
    else:
        ents.append({"tag": tag, "scores": [float(p.max())], "start": sp[0], "end": sp[1]})
want = [(e["tag"], e["start"], e["end"], text[e["start"]:e["end"]]) for e in ents if e["tag"] != "O"]
have = [(e["entity_group"], e["start"], e["end"], e["word"]) for e in got["entities"]]
assert have == want, (have, want)
for e, g in zip([e for e in ents if e["tag"] != "O"], got["entities"]):
    assert abs(np.mean(e["scores"]) - g["score"]) < 1e-4, (e, g)
PYEOF

# Question answering: best span (start <= end < start + max_answer_len, second segment) of the
# reference logits; max_answer_len 15 by default (HF's pipeline), 2 with --max-answer-len 2.
args=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]=="pair"][0]; print(c["texts"][0][0]); print(c["texts"][0][1])' "$FIX/tiny_qa/reference.json")
q=$(printf '%s\n' "$args" | sed -n 1p); ctx=$(printf '%s\n' "$args" | sed -n 2p)
for L in 15 2; do
opt=(); [ "$L" = 2 ] && opt=(--max-answer-len 2)
out=$("$SPARQ" classify "$FIX/tiny_qa" --question "$q" --context "$ctx" "${opt[@]}")
$PY - "$FIX/tiny_qa" "$out" "$L" <<'PYEOF'
import json, sys
d, got, L = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == "pair"][0]
s, e, tt = ref["start_logits"][0], ref["end_logits"][0], ref["token_type_ids"][0]
n = sum(ref["attention_mask"][0])
ok = [i for i in range(n) if tt[i] == 1]
best = max(((s[i] + e[j], i, j) for i in ok for j in ok if i <= j < i + L))
assert (got["start"], got["end"]) == (best[1], best[2]), (got, best)
assert got["end"] - got["start"] < L, got
assert abs(got["score"] - best[0]) < 1e-4, (got["score"], best[0])
pieces = [t for t in ref["tokens"][0][best[1]:best[2] + 1] if t not in ("[CLS]", "[SEP]")]
text = ""
for p in pieces:  # a span may start inside a word ("##n"): the context's text from there
    text += p[2:] if p.startswith("##") else ((" " if text else "") + p)
assert got["answer"] == text, (got["answer"], text)
PYEOF
done
# A context longer than --max-length: windows of the context (HF's pipeline; here rebuilt in
# Python from the reference tokenizer) overlapping by --doc-stride, each run through the PyTorch
# reference; sparq's answer is the best span of all windows, windows ranked as HF's pipeline does
# by the span's probability in its window (softmax of start and of end logits over the context
# and [CLS]), which "probability" reports.
long="$ctx $ctx $ctx"
out=$("$SPARQ" classify "$FIX/tiny_qa" --question "$q" --context "$long" --max-length 24 --doc-stride 4)
PYTHONPATH="$SRC/tools" $PY - "$FIX/tiny_qa" "$q" "$long" "$out" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d, q, ctx, got = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
lse = lambda x: float(np.log(np.sum(np.exp(np.asarray(x, dtype=np.float64) - max(x)))) + max(x))
cfg = json.load(open(d + "/config.json"))
w, _, _ = ref.read_safetensors(d + "/model.safetensors")
vocab = ref.load_vocab(d + "/vocab.txt")
qt, ct = ref.wordpiece_tokenize(q, vocab), ref.wordpiece_tokenize(ctx, vocab)
room, stride = 24 - 3 - len(qt), 4
best, n = None, 0
for start in range(0, len(ct), room - stride):
    part = ct[start:start + room]
    toks = ["[CLS]"] + qt + ["[SEP]"] + part + ["[SEP]"]
    types = [0] * (len(qt) + 2) + [1] * (len(part) + 1)
    o = ref.forward(cfg, w, [[vocab[t] for t in toks]], [[1] * len(toks)], [types])
    s, e = o["start_logits"][0], o["end_logits"][0]
    ok = range(len(qt) + 2, len(toks) - 1)
    cand = max((s[i] + e[j], i, j) for i in ok for j in ok if i <= j < i + 15)
    allowed = [0] + list(ok)
    prob = np.exp(cand[0] - lse([s[i] for i in allowed]) - lse([e[i] for i in allowed]))
    if best is None or prob > best[4]:
        best = (cand[0], cand[1], cand[2], n, prob)
    n += 1
    if start + room >= len(ct):
        break
assert got["windows"] == n and got["window"] == best[3], (got, best, n)
assert (got["start"], got["end"]) == (best[1], best[2]), (got, best)
assert abs(got["score"] - best[0]) < 1e-4, (got["score"], best[0])
assert abs(got["probability"] - best[4]) < 1e-5, (got["probability"], best[4])
assert got["answer"] in ctx, got
PYEOF
echo "classify: ok"
