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

# --aggregation none|simple|first|average|max against a Python port of Hugging Face's
# TokenClassificationPipeline postprocessing (gather_pre_entities, aggregate_words / aggregate_word,
# group_entities / group_sub_entities, ignore_labels ["O"]) over the PyTorch reference's
# probabilities of sparq's token ids. The WordPiece vocabulary has "##": a token is a subword when
# its string and the text under it differ in length (code points: "e" under "É" starts a word);
# [UNK] ("☃") never is. Offsets are found here by walking the pieces through the lower-cased,
# accent-stripped text. A pair: entities of each segment on their own. Default = simple.
agg_text="Alice lived in Évry ☃, unfriendly people moved to Berlin"
agg_pair="alice lived in paris for ten years before she moved to berlin ."
simple=$("$SPARQ" classify "$FIX/tiny_tok" "$agg_text" --aggregation simple)
[ "$simple" = "$("$SPARQ" classify "$FIX/tiny_tok" "$agg_text")" ] || { echo "default is not simple"; exit 1; }
for pair in no yes; do
  popt=(); [ "$pair" = yes ] && popt=(--pair "$agg_pair")
  toks=$("$SPARQ" tokenize "$FIX/tiny_tok" "$agg_text" "${popt[@]}")
  outs=()
  for X in none simple first average max; do
    outs+=("$("$SPARQ" classify "$FIX/tiny_tok" "$agg_text" "${popt[@]}" --aggregation "$X")")
  done
  PYTHONPATH="$SRC/tools" $PY - "$FIX/tiny_tok" "$agg_text" "$pair" "$agg_pair" "$toks" "${outs[@]}" <<'PYEOF'
import json, sys, unicodedata
import numpy as np
import bert_reference as ref
d, text, has_pair, pair, tk = sys.argv[1], sys.argv[2], sys.argv[3] == "yes", sys.argv[4], json.loads(sys.argv[5])
got = dict(zip(["none", "simple", "first", "average", "max"], [json.loads(x) for x in sys.argv[6:]]))
cfg = json.load(open(d + "/config.json"))
id2label = {int(k): v for k, v in cfg["id2label"].items()}
w, _, _ = ref.read_safetensors(d + "/model.safetensors")
logits = ref.forward(cfg, w, [tk["ids"]], [[1] * len(tk["ids"])], [tk["type_ids"]])["logits"][0]
scores = np.exp(logits - logits.max(-1, keepdims=True))
scores /= scores.sum(-1, keepdims=True)

def norm(ch):  # BertTokenizer's lower casing and accent stripping of one character
    return "".join(c for c in unicodedata.normalize("NFD", ch.lower()) if unicodedata.category(c) != "Mn")

def punct(ch):
    o = ord(ch)
    return 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or unicodedata.category(ch).startswith("P")

def offsets(sentence, tokens):  # character offsets of the word pieces in sentence
    pos, out = 0, []
    for t in tokens:
        while sentence[pos].isspace(): pos += 1
        start = pos
        if t == "[UNK]":  # a whole word
            while pos < len(sentence) and not sentence[pos].isspace() and not punct(sentence[pos]): pos += 1
        else:
            piece, acc = t[2:] if t.startswith("##") else t, ""
            while acc != piece:
                acc += norm(sentence[pos]); pos += 1
                assert piece.startswith(acc), (t, sentence[start:pos])
        out.append((start, pos))
    return out

# Segments: [CLS] text [SEP] (pair [SEP]); each one a "sentence" for the pipeline.
segs, cur = [], []
for i, t in enumerate(tk["tokens"]):
    if t in ("[CLS]", "[SEP]", "[PAD]"):
        if cur: segs.append(cur); cur = []
    else:
        cur.append(i)
assert len(segs) == (2 if has_pair else 1), segs

def pipeline(sentence, idx, strategy):  # HF's postprocess for one segment
    offs = offsets(sentence, [tk["tokens"][i] for i in idx])
    pre = []
    for i, (s, e) in zip(idx, offs):
        word, word_ref = tk["tokens"][i], sentence[s:e]
        is_sub = len(word) != len(word_ref)  # the tokenizer has a continuing_subword_prefix
        if word == "[UNK]":
            word, is_sub = word_ref, False
        pre.append({"word": word, "scores": scores[i], "start": s, "end": e, "index": i, "is_subword": is_sub})
    if strategy in ("none", "simple"):
        ents = [{"entity": id2label[int(p["scores"].argmax())], "score": float(p["scores"].max()),
                 "index": p["index"], "start": p["start"], "end": p["end"]} for p in pre]
    else:
        groups = []
        for p in pre:
            if groups and p["is_subword"]: groups[-1].append(p)
            else: groups.append([p])
        ents = []
        for g in groups:
            if strategy == "first": sc = g[0]["scores"]
            elif strategy == "max": sc = max(g, key=lambda p: p["scores"].max())["scores"]
            else: sc = np.nanmean(np.stack([p["scores"] for p in g]), axis=0)
            ents.append({"entity": id2label[int(sc.argmax())], "score": float(sc[sc.argmax()]),
                         "start": g[0]["start"], "end": g[-1]["end"]})
    if strategy == "none":
        return [e for e in ents if e["entity"] != "O"]
    def tag(name):
        return (name[0], name[2:]) if name.startswith(("B-", "I-")) else ("I", name)
    grouped, cur = [], []
    for e in ents:
        if cur and not (tag(e["entity"])[1] == tag(cur[-1]["entity"])[1] and tag(e["entity"])[0] != "B"):
            grouped.append(cur); cur = []
        cur.append(e)
    if cur: grouped.append(cur)
    out = [{"entity_group": g[0]["entity"].split("-", 1)[-1], "score": float(np.mean([e["score"] for e in g])),
            "start": g[0]["start"], "end": g[-1]["end"]} for g in grouped]
    return [e for e in out if e["entity_group"] != "O"]

def as_bytes(sentence, e):  # sparq: byte offsets, word = the text between them
    b, end = len(sentence[:e["start"]].encode()), len(sentence[:e["end"]].encode())
    return dict(e, start=b, end=end, word=sentence[e["start"]:e["end"]])

sentences = [text, pair] if has_pair else [text]
for strategy, line in got.items():
    want = [as_bytes(s, e) for s, idx in zip(sentences, segs) for e in pipeline(s, idx, strategy)]
    have = line["entities"]
    key = "entity" if strategy == "none" else "entity_group"
    fields = [key, "word", "start", "end"] + (["index"] if strategy == "none" else [])
    assert [[h[f] for f in fields] for h in have] == [[x[f] for f in fields] for x in want], (strategy, have, want)
    for h, x in zip(have, want):
        assert abs(h["score"] - x["score"]) < 1e-4, (strategy, h, x)
    assert list(have[0]) == [key, "score"] + (["index"] if strategy == "none" else []) + ["word", "start", "end"], have[0]
# The strategies give different entities here (words such as "unfriendly" and "Évry" labelled
# differently), so each one is really checked.
seen = [json.dumps(got[s]["entities"]) for s in got]
assert len(set(seen)) == len(seen), "two strategies agree"
PYEOF
done
# A bad strategy is a command-line error (exit 2).
set +e
"$SPARQ" classify "$FIX/tiny_tok" "x" --aggregation mean >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || { echo "--aggregation mean: exit $rc, expected 2"; exit 1; }

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
