#!/usr/bin/env bash
# sparq eval: predictions of tiny_cls on the fixture's reference texts equal the PyTorch reference
# (label and softmax score); on SST-2 and STS-B (a regression copy of tiny_cls) the predictions
# match tools/bert_reference.py and accuracy/F1/MCC/Pearson/Spearman equal numpy computations on
# the predictions file and gold labels parsed here independently; bad inputs fail with one line.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
DATA="${SPARQ_SHARED_DATA:-$SRC/../shared/data}"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
export PYTHONPATH="$SRC/tools"

# Shared numpy metrics (independent of sparq's C++): written once, imported by the checks below.
cat > "$TMP/npmetrics.py" <<'PYEOF'
import numpy as np
def acc(g, p): return float(np.mean(np.asarray(g) == np.asarray(p)))
def f1(g, p, pos=1):
    g, p = np.asarray(g) == pos, np.asarray(p) == pos
    tp, fp, fn = np.sum(g & p), np.sum(~g & p), np.sum(g & ~p)
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else None
def mcc(g, p):
    g, p = np.asarray(g), np.asarray(p)
    tp, tn = np.sum((g == 1) & (p == 1)), np.sum((g == 0) & (p == 0))
    fp, fn = np.sum((g == 0) & (p == 1)), np.sum((g == 1) & (p == 0))
    den = np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    return float((tp * tn - fp * fn) / den) if den else 0.0
def ranks(x):
    x = np.asarray(x, dtype=np.float64); r = np.empty(len(x))
    for v in np.unique(x):
        idx = np.where(x == v)[0]
        # positions of v in the sorted order are (#less)+1 .. (#less)+len(idx)
        less = np.sum(x < v); r[idx] = less + (len(idx) + 1) / 2.0
    return r
def pearson(a, b): return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])
def spearman(a, b): return pearson(ranks(a), ranks(b))
def make_head(src, dst, labels, texts, seed=7):
    """Copy of the tiny_cls model in dst with a len(labels)-way classifier whose random rows are
    centred on the mean pooled output of `texts`, so predictions vary between examples."""
    import json, shutil
    from bert_reference import encode, forward, load_vocab, read_safetensors, write_safetensors
    import os
    os.makedirs(dst, exist_ok=True)
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(src + "/" + f, dst + "/" + f)
    cfg = json.load(open(src + "/config.json"))
    cfg.update(num_labels=len(labels), id2label={str(i): l for i, l in enumerate(labels)},
               label2id={l: i for i, l in enumerate(labels)})
    json.dump(cfg, open(dst + "/config.json", "w"), indent=2)
    w, _, _ = read_safetensors(src + "/model.safetensors")
    vocab = load_vocab(src + "/vocab.txt")
    pooled = []
    for t in texts:
        _, ids, types = encode(t.lower(), vocab)
        pooled.append(forward(cfg, w, [ids], [[1] * len(ids)], [types])["pooler_output"][0])
    pooled = np.array(pooled)
    W = np.random.default_rng(seed).standard_normal((len(labels), pooled.shape[1])) / (pooled.std(0).mean() + 1e-9)
    w["classifier.weight"] = W.astype(np.float32)
    w["classifier.bias"] = (-W @ pooled.mean(0)).astype(np.float32)
    write_safetensors(dst + "/model.safetensors", w)
def close(a, b, tol):
    if a is None or b is None: return a is None and b is None
    return abs(a - b) <= tol
PYEOF
export PYTHONPATH="$TMP:$PYTHONPATH"

# 1. Reference texts of tiny_cls (single sentences), gold labels as names in mixed case and ids.
$PY - "$FIX/tiny_cls/reference.json" "$TMP/ref.tsv" <<'PYEOF'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
golds = ["NEGATIVE", "positive", "1", "negative"]
with open(sys.argv[2], "w") as f:
    f.write("sentence\tlabel\n")
    n = 0
    for c in cases:
        for t, l in zip(c.get("texts", []), c["logits"]):
            if t[1] is None and t[0]:
                f.write(t[0] + "\t" + golds[n % 4] + "\n"); n += 1
PYEOF
"$SPARQ" eval "$FIX/tiny_cls" --data "$TMP/ref.tsv" --format tsv --json --predictions "$TMP/ref.jsonl" --batch-size 2 > "$TMP/ref.json"
$PY - "$FIX/tiny_cls/reference.json" "$TMP/ref.jsonl" "$TMP/ref.json" <<'PYEOF'
import json, math, sys
from npmetrics import acc, f1, mcc, close
cases = json.load(open(sys.argv[1]))["cases"]
want = [(t[0], l) for c in cases for t, l in zip(c.get("texts", []), c["logits"]) if t[1] is None and t[0]]
preds = [json.loads(l) for l in open(sys.argv[2])]
summary = json.loads(open(sys.argv[3]).read())
golds = ["negative", "positive", "positive", "negative"]
assert len(preds) == len(want) == summary["examples"], (len(preds), len(want))
g, p = [], []
for i, ((text, logits), got) in enumerate(zip(want, preds)):
    m = max(logits); e = [math.exp(x - m) for x in logits]; prob = [x / sum(e) for x in e]
    best = max(range(2), key=lambda k: prob[k])
    assert got["index"] == i and got["line"] == i + 2, got
    assert got["predicted"] == ["negative", "positive"][best], (got, logits)
    assert abs(got["score"] - prob[best]) < 1e-4, (got, prob)
    assert got["gold"] == golds[i % 4], got
    g.append(golds[i % 4] == "positive"); p.append(best)
assert close(summary["accuracy"], acc(g, p), 1e-6), summary
assert close(summary["f1"], f1(g, p), 1e-6), summary
assert close(summary["mcc"], mcc(g, p), 1e-6), summary
assert summary["main_metric"] == "accuracy" and summary["format"] == "tsv"
PYEOF

if [ -d "$DATA/sst2" ]; then
  # 2. SST-2 dev (first 48): metrics from numpy on gold labels read here; 3 predictions vs the
  #    PyTorch reference.
  "$SPARQ" eval "$FIX/tiny_cls" --threads 1 --data "$DATA/sst2/dev.tsv" --limit 48 --json --predictions "$TMP/sst.jsonl" > "$TMP/sst.json"
  $PY - "$DATA/sst2/dev.tsv" "$TMP/sst.jsonl" "$TMP/sst.json" "$FIX/tiny_cls" "$SRC/tools/bert_reference.py" <<'PYEOF'
import json, math, subprocess, sys
from npmetrics import acc, f1, mcc, close
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][1:49]
preds = [json.loads(l) for l in open(sys.argv[2])]
s = json.loads(open(sys.argv[3]).read())
assert s["examples"] == 48 and s["format"] == "sst2", s
g = [int(r[1]) for r in rows]
p = [1 if x["predicted"] == "positive" else 0 for x in preds]
assert [1 if x["gold"] == "positive" else 0 for x in preds] == g
for k in ("accuracy", "f1", "mcc"):
    assert close(s[k], {"accuracy": acc, "f1": f1, "mcc": mcc}[k](g, p), 1e-6), (k, s)
for i in (0, 31):
    out = subprocess.run([sys.executable, sys.argv[5], sys.argv[4], "--text", rows[i][0]],
                         check=True, capture_output=True, text=True).stdout
    logits = json.loads(out)["logits"]
    m = max(logits); e = [math.exp(x - m) for x in logits]; prob = [x / sum(e) for x in e]
    best = max(range(2), key=lambda k: prob[k])
    assert preds[i]["predicted"] == ["negative", "positive"][best], (i, preds[i], logits)
    assert abs(preds[i]["score"] - prob[best]) < 1e-4, (i, preds[i], prob)
PYEOF
  # Human summary.
  "$SPARQ" eval "$FIX/tiny_cls" --data "$DATA/sst2/dev.tsv" --limit 20 > "$TMP/sst.txt"
  grep -q "^accuracy   0\.[0-9]\{4\} ([0-9]*/20)" "$TMP/sst.txt" || { cat "$TMP/sst.txt"; echo "no accuracy line"; exit 1; }
  grep -q "^mcc " "$TMP/sst.txt" && grep -q "^throughput " "$TMP/sst.txt" || { echo "summary lines missing"; exit 1; }
fi

if [ -d "$DATA/sst2" ]; then
  # 2b. Binary with both classes predicted: F1 and MCC not degenerate.
  $PY -c 'import sys; from npmetrics import make_head; make_head(sys.argv[1], sys.argv[2], ["negative", "positive"], [l.split("\t")[0] for l in open(sys.argv[3]).read().splitlines()[1:41]], seed=3)' "$FIX/tiny_cls" "$TMP/bin" "$DATA/sst2/dev.tsv"
  "$SPARQ" eval "$TMP/bin" --threads 1 --data "$DATA/sst2/dev.tsv" --limit 200 --json --predictions "$TMP/bin.jsonl" > "$TMP/bin.json"
  $PY - "$DATA/sst2/dev.tsv" "$TMP/bin.jsonl" "$TMP/bin.json" <<'PYEOF'
import json, sys
from npmetrics import acc, f1, mcc, close
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][1:201]
preds = [json.loads(l) for l in open(sys.argv[2])]
s = json.loads(open(sys.argv[3]).read())
g = [int(r[1]) for r in rows]
p = [1 if x["predicted"] == "positive" else 0 for x in preds]
assert 20 < sum(p) < 180, sum(p)
for k, fn in (("accuracy", acc), ("f1", f1), ("mcc", mcc)):
    assert close(s[k], fn(g, p), 1e-6), (k, s[k], fn(g, p))
assert s["f1"] > 0 and s["mcc"] != 0, s
PYEOF
fi

if [ -d "$DATA/stsb" ]; then
  # 3. Regression: tiny_cls with a one-output classifier (its first row) on STS-B dev.
  mkdir "$TMP/reg"
  cp "$FIX/tiny_cls/vocab.txt" "$FIX/tiny_cls/tokenizer_config.json" "$TMP/reg/"
  $PY - "$FIX/tiny_cls" "$TMP/reg" <<'PYEOF'
import json, sys
from bert_reference import read_safetensors, write_safetensors
src, dst = sys.argv[1], sys.argv[2]
cfg = json.load(open(src + "/config.json"))
cfg.update(num_labels=1, problem_type="regression", id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0})
json.dump(cfg, open(dst + "/config.json", "w"), indent=2)
w, _, _ = read_safetensors(src + "/model.safetensors")
w["classifier.weight"] = w["classifier.weight"][:1].copy()
w["classifier.bias"] = w["classifier.bias"][:1].copy()
write_safetensors(dst + "/model.safetensors", w)
PYEOF
  "$SPARQ" eval "$TMP/reg" --data "$DATA/stsb/sts-dev.csv" --limit 64 --json --predictions "$TMP/sts.jsonl" > "$TMP/sts.json"
  $PY - "$DATA/stsb/sts-dev.csv" "$TMP/sts.jsonl" "$TMP/sts.json" "$TMP/reg" "$SRC/tools/bert_reference.py" <<'PYEOF'
import json, subprocess, sys
from npmetrics import pearson, spearman, close
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][:64]
preds = [json.loads(l) for l in open(sys.argv[2])]
s = json.loads(open(sys.argv[3]).read())
assert s["task"] == "regression" and s["main_metric"] == "pearson" and "accuracy" not in s, s
g = [float(r[4]) for r in rows]
p = [x["predicted"] for x in preds]
assert [x["gold"] for x in preds] == g
assert close(s["pearson"], pearson(g, p), 2e-6), (s, pearson(g, p))
assert close(s["spearman"], spearman(g, p), 2e-6), (s, spearman(g, p))
for i in (5,):
    out = subprocess.run([sys.executable, sys.argv[5], sys.argv[4], "--text", rows[i][5].lower(),
                          "--pair", rows[i][6].lower()], check=True, capture_output=True, text=True).stdout
    ref = json.loads(out)["logits"][0]
    assert abs(preds[i]["predicted"] - ref) < 1e-4, (i, preds[i], ref)
PYEOF
  # 3a. An embedding model (tiny_base, no head) on STS-B: cosine similarity of the two texts'
  #     mean-pooled embeddings; predictions against the PyTorch reference, metrics against numpy;
  #     a sentence-transformers directory with max pooling changes the pooling.
  "$SPARQ" eval "$FIX/tiny_base" --data "$DATA/stsb/sts-dev.csv" --limit 24 --json --predictions "$TMP/sim.jsonl" > "$TMP/sim.json"
  mkdir "$TMP/stmax" "$TMP/stmax/1_Pooling"
  cp "$FIX/tiny_base/"{config.json,model.safetensors,vocab.txt,tokenizer_config.json} "$TMP/stmax/"
  echo '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]' > "$TMP/stmax/modules.json"
  echo '{"word_embedding_dimension":32,"pooling_mode_cls_token":false,"pooling_mode_max_tokens":true}' > "$TMP/stmax/1_Pooling/config.json"
  "$SPARQ" eval "$TMP/stmax" --data "$DATA/stsb/sts-dev.csv" --limit 24 --json --predictions "$TMP/simmax.jsonl" > "$TMP/simmax.json"
  #     The other similarity functions: --similarity, and the directory's similarity_fn_name
  #     (config_sentence_transformers.json) when not given.
  for sim in dot euclidean manhattan; do
    "$SPARQ" eval "$FIX/tiny_base" --data "$DATA/stsb/sts-dev.csv" --limit 24 --json --similarity $sim \
      --predictions "$TMP/sim_$sim.jsonl" > "$TMP/sim_$sim.json"
  done
  echo '{"similarity_fn_name": "dot"}' > "$TMP/stmax/config_sentence_transformers.json"
  "$SPARQ" eval "$TMP/stmax" --data "$DATA/stsb/sts-dev.csv" --limit 24 --json > "$TMP/simmax_dot.json"
  "$SPARQ" eval "$TMP/stmax" --data "$DATA/stsb/sts-dev.csv" --limit 24 --json --similarity cosine > "$TMP/simmax_cos.json"
  $PY - "$TMP" <<'PYEOF'
import json, sys
tmp = sys.argv[1]
dot, cos = json.load(open(tmp + "/simmax_dot.json")), json.load(open(tmp + "/simmax_cos.json"))
assert dot["similarity"] == "dot" and cos["similarity"] == "cosine", (dot, cos)
assert cos["spearman"] == json.load(open(tmp + "/simmax.json"))["spearman"], cos
assert dot["spearman"] != cos["spearman"], (dot, cos)
PYEOF
  rm "$TMP/stmax/config_sentence_transformers.json"
  $PY - "$DATA/stsb/sts-dev.csv" "$FIX/tiny_base" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
from npmetrics import pearson, spearman, close
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")][:24]
d, tmp = sys.argv[2], sys.argv[3]
cfg = json.load(open(d + "/config.json"))
w, _, _ = ref.read_safetensors(d + "/model.safetensors")
vocab = ref.load_vocab(d + "/vocab.txt")
def emb(text, pool):
    _, ids, _ = ref.encode(text.lower(), vocab)
    h = ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["last_hidden_state"][0]
    return h.mean(axis=0) if pool == "mean" else h.max(axis=0)
g = [float(r[4]) for r in rows]
for name, pool in (("sim", "mean"), ("simmax", "max")):
    s = json.load(open(f"{tmp}/{name}.json"))
    preds = [json.loads(l) for l in open(f"{tmp}/{name}.jsonl")]
    assert s["task"] == "similarity" and s["main_metric"] == "spearman", s
    p = [x["predicted"] for x in preds]
    assert [x["gold"] for x in preds] == g
    assert close(s["spearman"], spearman(g, p), 2e-6) and close(s["pearson"], pearson(g, p), 2e-6), s
    for i in (0, 7, 23):
        a, b = emb(rows[i][5], pool), emb(rows[i][6], pool)
        want = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert abs(p[i] - want) < 2e-5, (name, i, p[i], want)
# dot product, negative euclidean and manhattan distances of the mean-pooled embeddings.
fns = {"dot": lambda a, b: float(a @ b), "euclidean": lambda a, b: -float(np.linalg.norm(a - b)),
       "manhattan": lambda a, b: -float(np.abs(a - b).sum())}
for sim, fn in fns.items():
    s = json.load(open(f"{tmp}/sim_{sim}.json"))
    p = [json.loads(l)["predicted"] for l in open(f"{tmp}/sim_{sim}.jsonl")]
    assert s["similarity"] == sim and close(s["spearman"], spearman(g, p), 2e-6), s
    for i in (0, 7, 23):
        want = fn(emb(rows[i][5], "mean"), emb(rows[i][6], "mean"))
        assert abs(p[i] - want) < 2e-5 * (1 + abs(want)), (sim, i, p[i], want)
PYEOF
fi

if [ -d "$DATA/trec" ]; then
  # 3b. Multiclass: tiny_cls with a 6-way classifier (seeded random rows) and TREC's coarse labels
  #     as its id2label; accuracy and multiclass MCC (confusion-matrix form) from numpy.
  $PY -c 'import sys; from npmetrics import make_head; make_head(sys.argv[1], sys.argv[2], ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"], [l.split(" ", 1)[1] for l in open(sys.argv[3], encoding="latin-1").read().splitlines()[:40]])' "$FIX/tiny_cls" "$TMP/trec" "$DATA/trec/TREC_10.label"
  "$SPARQ" eval "$TMP/trec" --threads 1 --data "$DATA/trec/TREC_10.label" --limit 120 --json --predictions "$TMP/trec.jsonl" > "$TMP/trec.json"
  $PY - "$DATA/trec/TREC_10.label" "$TMP/trec.jsonl" "$TMP/trec.json" "$TMP/trec" "$SRC/tools/bert_reference.py" <<'PYEOF'
import json, math, subprocess, sys, numpy as np
from npmetrics import acc, close
lines = open(sys.argv[1], encoding="latin-1").read().splitlines()[:120]
gold = [l.split(" ", 1)[0].split(":")[0] for l in lines]
preds = [json.loads(l) for l in open(sys.argv[2])]
s = json.loads(open(sys.argv[3]).read())
assert [p["gold"] for p in preds] == gold
pred = [p["predicted"] for p in preds]
assert len(set(pred)) >= 2, set(pred)  # the metrics below are not all-one-class degenerate
labels = sorted(set(gold) | set(pred))
C = np.zeros((len(labels), len(labels)))
for g, p in zip(gold, pred): C[labels.index(g), labels.index(p)] += 1
t, p_, c, n = C.sum(1), C.sum(0), np.trace(C), C.sum()
mcc = (c * n - t @ p_) / math.sqrt((n * n - p_ @ p_) * (n * n - t @ t))
assert close(s["accuracy"], acc(gold, pred), 1e-6) and close(s["mcc"], float(mcc), 1e-6), (s, mcc)
assert "f1" not in s, s
text = lines[3].split(" ", 1)[1].lower()
out = subprocess.run([sys.executable, sys.argv[5], sys.argv[4], "--text", text], check=True,
                     capture_output=True, text=True).stdout
logits = json.loads(out)["logits"]
labs = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
assert preds[3]["predicted"] == labs[int(np.argmax(logits))], (preds[3], logits)
PYEOF
fi

# Generic TSV without a header, columns by index.
printf 'x\tthe movie was great !\t0\ny\twho wrote the book ?\tpositive\n' > "$TMP/nh.tsv"
"$SPARQ" eval "$FIX/tiny_cls" --data "$TMP/nh.tsv" --no-header --text-col 1 --label-col 2 --json > "$TMP/nh.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["examples"]==2 and d["format"]=="tsv", d' "$TMP/nh.json"

# 4. Errors: one line "sparq: error: ...", exit 1 (bad input) or 2 (bad command line).
expect_fail() {  # expect_fail CODE PATTERN ARGS...
  local code="$1" pat="$2"; shift 2
  set +e; "$SPARQ" "$@" > "$TMP/out" 2> "$TMP/err"; local rc=$?; set -e
  [ "$rc" = "$code" ] || { echo "expected exit $code, got $rc for: $*"; cat "$TMP/err"; exit 1; }
  [ "$(wc -l < "$TMP/err")" = 1 ] || { echo "expected one error line for: $*"; cat "$TMP/err"; exit 1; }
  grep -q -- "$pat" "$TMP/err" || { echo "error for '$*' lacks '$pat':"; cat "$TMP/err"; exit 1; }
}
printf 'sentence\tlabel\ngood\t1\nbad line\n' > "$TMP/cols.tsv"
printf 'sentence\tlabel\ngood\t1\nbad \377\t0\n' > "$TMP/utf.tsv"
printf 'sentence\tlabel\n' > "$TMP/empty.tsv"
printf 'ham\thello there\nspam\twin a prize\n' > "$TMP/SMSSpamCollection"
expect_fail 1 "dataset file '$TMP/none.tsv' does not exist" eval "$FIX/tiny_cls" --data "$TMP/none.tsv"
expect_fail 1 "$TMP/cols.tsv:3: expected 2 tab-separated columns, found 1" eval "$FIX/tiny_cls" --data "$TMP/cols.tsv"
expect_fail 1 "$TMP/utf.tsv:3: invalid UTF-8" eval "$FIX/tiny_cls" --data "$TMP/utf.tsv"
expect_fail 1 "has no examples" eval "$FIX/tiny_cls" --data "$TMP/empty.tsv"
expect_fail 1 "SMSSpamCollection:1: label 'ham' is not one of the model's labels (negative, positive)" \
  eval "$FIX/tiny_cls" --data "$TMP/SMSSpamCollection"
expect_fail 1 "sequence-classification" eval "$FIX/tiny_base" --data "$TMP/cols.tsv" --limit 1
mkdir -p "$TMP/badsim" && cp "$FIX/tiny_base/"{config.json,model.safetensors,vocab.txt} "$TMP/badsim/"
echo '{"similarity_fn_name": "jaccard"}' > "$TMP/badsim/config_sentence_transformers.json"
expect_fail 1 "similarity_fn_name \"jaccard\" is not one of cosine, dot, euclidean, manhattan" \
  eval "$TMP/badsim" --data "$TMP/cols.tsv" --limit 1
expect_fail 2 "similarity" eval "$FIX/tiny_base" --data "$TMP/cols.tsv" --similarity jaccard
printf 'a\tb\tlabel\nthe cat\tthe dog\thigh\n' > "$TMP/simbad.tsv"
expect_fail 1 "simbad.tsv:2: similarity: expected a numeric score, found 'high'" \
  eval "$FIX/tiny_base" --data "$TMP/simbad.tsv" --text-col a --pair-col b --label-col label
expect_fail 2 "format" eval "$FIX/tiny_cls" --data "$TMP/cols.tsv" --format csv
expect_fail 2 "data" eval "$FIX/tiny_cls"
echo "eval.sh: ok"
