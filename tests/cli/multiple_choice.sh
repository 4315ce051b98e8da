#!/usr/bin/env bash
# Multiple choice (Hugging Face's ...ForMultipleChoice) in every family that has the head. The
# models are made here from the fixtures as such checkpoints are laid out: BERT, ALBERT,
# DistilBERT, DeBERTa-v2 and ModernBERT read their sequence classifiers' pooled vector (the
# classifier cut to one output row, the config's two labels kept as HF's checkpoints keep them);
# RoBERTa, XLM-R and MPNet read the model's pooler (tanh), not their classification head (the
# base fixtures with a pooler, names under roberta. / mpnet., a new classifier row); ELECTRA its
# SequenceSummary (sequence_summary.summary + GELU). Expected logits come from the PyTorch
# reference on the ids `sparq tokenize` gives each (prompt, choice) pair: logits within 1e-4,
# the same best choice, probabilities the softmax of the logits. Also: choices alone (no prompt),
# choices from a file and stdin, --batch-size 1 giving the same line, `sparq serve`'s /classify
# and a pruned copy. Errors: one choice, --pair, --prompt on a sequence classifier, a config
# ELECTRA's summary we do not compute, a missing classifier.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

PYTHONPATH="$SRC/tools" $PY - "$FIX" "$TMP" <<'PYEOF'
import json, shutil, sys
import numpy as np
import bert_reference as ref
fix, tmp = sys.argv[1:3]
rng = np.random.default_rng(7)

def make(src, dst, arch, edit):
    shutil.copytree(f"{fix}/{src}", f"{tmp}/{dst}")
    w, _, _ = ref.read_safetensors(f"{tmp}/{dst}/model.safetensors")
    w = edit(w)
    ref.write_safetensors(f"{tmp}/{dst}/model.safetensors", w)
    cfg = json.load(open(f"{tmp}/{dst}/config.json"))
    cfg["architectures"] = [arch]
    json.dump(cfg, open(f"{tmp}/{dst}/config.json", "w"), indent=2)

def one_row(w, name="classifier"):  # the classifier cut to one output (a mix of its rows)
    m, b = w.pop(name + ".weight"), w.pop(name + ".bias")
    w["classifier.weight"] = (0.8 * m[:1] - 0.6 * m[-1:]).astype(np.float32)
    w["classifier.bias"] = np.array([0.1], np.float32)
    return w

def pooler_head(prefix):  # the base model under its prefix + a classifier on the pooler
    def edit(w):
        w = {prefix + k: v for k, v in w.items()}
        h = w[prefix + "pooler.dense.weight"].shape[0]
        w["classifier.weight"] = (rng.standard_normal((1, h)) * 0.3).astype(np.float32)
        w["classifier.bias"] = np.array([-0.05], np.float32)
        return w
    return edit

def electra(w):
    w["sequence_summary.summary.weight"] = w.pop("classifier.dense.weight")
    w["sequence_summary.summary.bias"] = w.pop("classifier.dense.bias")
    return one_row(w, "classifier.out_proj")

make("tiny_cls", "mc_bert", "BertForMultipleChoice", one_row)
make("tiny_albert_cls", "mc_albert", "AlbertForMultipleChoice", one_row)
make("tiny_distilbert_cls", "mc_distilbert", "DistilBertForMultipleChoice", one_row)
make("tiny_deberta_cls", "mc_deberta", "DebertaV2ForMultipleChoice", one_row)
make("tiny_modernbert_cls", "mc_modernbert", "ModernBertForMultipleChoice", one_row)
make("tiny_roberta", "mc_roberta", "RobertaForMultipleChoice", pooler_head("roberta."))
make("tiny_xlmr", "mc_xlmr", "XLMRobertaForMultipleChoice", pooler_head("roberta."))
make("tiny_mpnet", "mc_mpnet", "MPNetForMultipleChoice", pooler_head("mpnet."))
make("tiny_electra_cls", "mc_electra", "ElectraForMultipleChoice", electra)
PYEOF

PROMPT="alice lived in paris for ten years"
CHOICES=("before she moved to berlin ." "and the movie was great !" "who wrote the book ?")
MODELS="mc_bert mc_albert mc_distilbert mc_deberta mc_modernbert mc_roberta mc_xlmr mc_mpnet mc_electra"
for m in $MODELS; do
    d="$TMP/$m"
    "$SPARQ" classify "$d" --prompt "$PROMPT" "${CHOICES[@]}" --threads 2 > "$TMP/$m.json"
    "$SPARQ" classify "$d" "${CHOICES[@]}" --threads 1 > "$TMP/$m-alone.json"
    # The same line from a file, from stdin, and one choice per pass.
    printf '%s\n' "${CHOICES[@]}" > "$TMP/choices.txt"
    "$SPARQ" classify "$d" --prompt "$PROMPT" --file "$TMP/choices.txt" --batch-size 1 > "$TMP/$m-file.json"
    "$SPARQ" classify "$d" --prompt "$PROMPT" < "$TMP/choices.txt" > "$TMP/$m-stdin.json"
    cmp "$TMP/$m.json" "$TMP/$m-file.json"
    cmp "$TMP/$m.json" "$TMP/$m-stdin.json"
    for c in "${CHOICES[@]}"; do "$SPARQ" tokenize "$d" "$PROMPT" --pair "$c"; done > "$TMP/$m-tok.jsonl"
    for c in "${CHOICES[@]}"; do "$SPARQ" tokenize "$d" "$c"; done > "$TMP/$m-tok-alone.jsonl"
done

PYTHONPATH="$SRC/tools" $PY - "$TMP" "$MODELS" "$PROMPT" "${CHOICES[@]}" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
tmp, models, prompt, choices = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4:]
for m in models:
    d = f"{tmp}/{m}"
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    for suffix in ("", "-alone"):
        toks = [json.loads(l) for l in open(f"{d}-tok{suffix}.jsonl")]
        n, seq = len(toks), max(len(t["ids"]) for t in toks)
        pad = int(cfg.get("pad_token_id", 0))
        ids = np.full((n, seq), pad, np.int64)
        mask = np.zeros((n, seq), np.int64)
        types = np.zeros((n, seq), np.int64)
        for i, t in enumerate(toks):
            k = len(t["ids"])
            ids[i, :k], mask[i, :k], types[i, :k] = t["ids"], 1, t["type_ids"]
        want = ref.forward(cfg, w, ids, mask, types)["logits"][:, 0]
        got = json.load(open(f"{d}{suffix}.json"))
        assert got["choices"] == choices, got["choices"]
        logits = np.array(got["logits"])
        dev = np.abs(logits - want).max()
        assert dev <= 1e-4, (m, suffix, dev, logits, want)
        p = np.exp(want - want.max()); p /= p.sum()
        assert got["index"] == int(np.argmax(logits)), (m, got)
        assert got["choice"] == got["choices"][got["index"]]
        assert np.abs(np.array(got["scores"]) - p).max() <= 1e-5, (m, got["scores"], p)
        assert abs(got["score"] - max(got["scores"])) == 0
        assert ("prompt" in got) == (suffix == ""), got
        if suffix == "":
            assert got["prompt"] == prompt
        # The choices must matter: different pairs, different logits.
        assert np.ptp(want) > 1e-3, (m, want)
    print(f"{m}: max |logit - reference| {dev:.2e}")
PYEOF

# serve: POST /classify on a multiple-choice model gives the command line's numbers.
d="$TMP/mc_roberta"
source "$SRC/tests/cli/lib/serve.bash"
start "$d"
$PY - "$PORT" "$TMP/mc_roberta.json" "$PROMPT" "${CHOICES[@]}" <<'PYEOF'
import json, sys, urllib.request, urllib.error
port, cli, prompt, choices = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
url = f"http://127.0.0.1:{port}"
def post(body):
    req = urllib.request.Request(url + "/classify", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
st, r = post({"prompt": prompt, "choices": choices})
want = json.load(open(cli))
assert st == 200, (st, r)
for k in ("choice", "index", "score", "scores", "logits"):
    assert r[k] == want[k], (k, r[k], want[k])
info = json.loads(urllib.request.urlopen(url + "/info").read())
assert info["task"] == "multiple-choice", info
for bad, what in (({"prompt": prompt, "choices": choices[:1]}, "at least 2 choices"),
                  ({"choices": "a"}, "choices"), ({"texts": choices}, "texts"),
                  ({"prompt": 3, "choices": choices}, "prompt")):
    st, r = post(bad)
    assert st == 400 and what in r["error"], (bad, st, r)
print("serve: ok")
PYEOF
stop

# A 90%-pruned copy still runs (the heads are left alone) and tracks the dense model's choice.
"$SPARQ" prune "$TMP/mc_bert" "$TMP/mc_bert_p" --sparsity 0.9 > /dev/null
"$SPARQ" classify "$TMP/mc_bert_p" --prompt "$PROMPT" "${CHOICES[@]}" > "$TMP/p.json"
$PY -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['logits'])==3, j" "$TMP/p.json"
grep -q '"architectures"' "$TMP/mc_bert_p/config.json"
grep -q 'BertForMultipleChoice' "$TMP/mc_bert_p/config.json"

# Errors: one line, non-zero exit.
fails() {  # fails EXPECTED-TEXT COMMAND...
    local want="$1"; shift
    if "$@" > /dev/null 2> "$TMP/err.txt"; then echo "accepted: $*"; exit 1; fi
    [ "$(wc -l < "$TMP/err.txt")" = 1 ] || { echo "$*:"; cat "$TMP/err.txt"; exit 1; }
    grep -q "$want" "$TMP/err.txt" || { echo "$*: expected '$want'"; cat "$TMP/err.txt"; exit 1; }
}
fails "at least 2 choices" "$SPARQ" classify "$TMP/mc_bert" --prompt "$PROMPT" "only one"
fails "not --pair" "$SPARQ" classify "$TMP/mc_bert" --pair "$PROMPT" a b
fails "no multiple-choice head" "$SPARQ" classify "$FIX/tiny_cls" --prompt "$PROMPT" a b
fails "excludes" "$SPARQ" classify "$FIX/tiny_qa" --prompt p --question q --context c
for edit in 'c["summary_type"]="mean"' 'c["summary_activation"]=None' 'c["summary_activation"]="tanh"' \
            'c["summary_use_proj"]=False' 'c["summary_proj_to_labels"]=True'; do
    rm -rf "$TMP/bad"; cp -r "$TMP/mc_electra" "$TMP/bad"
    $PY -c "import json,sys; p=sys.argv[1]+'/config.json'; c=json.load(open(p)); $edit; json.dump(c,open(p,'w'))" "$TMP/bad"
    fails "summary" "$SPARQ" classify "$TMP/bad" a b
done
rm -rf "$TMP/bad"; cp -r "$TMP/mc_roberta" "$TMP/bad"
PYTHONPATH="$SRC/tools" $PY -c "
import sys, bert_reference as ref
p = sys.argv[1] + '/model.safetensors'
w, _, _ = ref.read_safetensors(p)
del w['classifier.weight'], w['classifier.bias']
ref.write_safetensors(p, w)" "$TMP/bad"
fails "classifier.weight" "$SPARQ" classify "$TMP/bad" a b
echo "multiple choice: ok"
