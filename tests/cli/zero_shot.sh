#!/usr/bin/env bash
# sparq zero-shot: every (text, hypothesis) pair through an NLI classifier, scored as Hugging
# Face's zero-shot-classification pipeline. Two NLI models are made here from the two-label
# fixtures with a third classifier row: a BERT one labelled (contradiction, neutral, entailment)
# — contradiction is label 0 — and a RoBERTa one labelled (ENTAILMENT, neutral, contradiction) —
# entailment is label 0, so contradiction is the last label; the DeBERTa-v2 and v1 fixtures are ones as they are. Expected scores are recomputed here
# from the PyTorch reference's logits on the ids `sparq tokenize` gives each pair: single-label
# (softmax of the entailment logits over the labels), --multi-label and one label (entailment vs
# contradiction), labels sorted by score; the multi-label scores also agree with `sparq classify
# --pair` probabilities. Pairs too long are cut in the text only. Texts from arguments, a file or
# stdin and any --batch-size give the same lines. A model without an entailment label, a
# non-classifier, a template without {}, and empty labels are one-line errors.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

PYTHONPATH="$SRC/tools" $PY - "$FIX" "$TMP" <<'PYEOF'
import json, shutil, sys
import numpy as np
import bert_reference as ref
fix, tmp = sys.argv[1:3]
for src, dst, labels in (("tiny_cls", "nli_bert", ["contradiction", "neutral", "entailment"]),
                         ("tiny_roberta_cls", "nli_roberta", ["ENTAILMENT", "neutral", "contradiction"]),
                         # ModernBERT: mean pooling, head.dense + GELU + head.norm, then the classifier.
                         ("tiny_modernbert_cls", "nli_modernbert", ["contradiction", "neutral", "entailment"])):
    shutil.copytree(f"{fix}/{src}", f"{tmp}/{dst}")
    w, _, _ = ref.read_safetensors(f"{tmp}/{dst}/model.safetensors")
    head = "classifier.weight" if "classifier.weight" in w else "classifier.out_proj.weight"
    bias = head.replace("weight", "bias")
    w[head] = np.concatenate([w[head], 0.7 * w[head][:1] - 1.3 * w[head][1:2]]).astype(np.float32)
    w[bias] = np.concatenate([w[bias], [0.05]]).astype(np.float32)
    ref.write_safetensors(f"{tmp}/{dst}/model.safetensors", w)
    cfg = json.load(open(f"{tmp}/{dst}/config.json"))
    cfg["id2label"] = {str(i): l for i, l in enumerate(labels)}
    cfg["label2id"] = {l: i for i, l in enumerate(labels)}
    json.dump(cfg, open(f"{tmp}/{dst}/config.json", "w"))
# DeBERTa-v2 (the family of most zero-shot models): the fixture is an MNLI-labelled classifier.
shutil.copytree(f"{fix}/tiny_deberta_cls", f"{tmp}/nli_deberta")
# DeBERTa v1 (deberta-large-mnli's family): its BPE tokenizer's [CLS] A [SEP] B [SEP] pairs.
shutil.copytree(f"{fix}/tiny_deberta_v1_cls", f"{tmp}/nli_deberta_v1")
PYEOF

printf '%s\n' "the movie was great !" "alice read the book in paris" "i did not like it" \
    "who wrote the book ?" > "$TMP/texts.txt"
mapfile -t TEXTS < "$TMP/texts.txt"
LABELS="book, film,paris"
TEMPLATE="it is about {} ."
LONG="the book was written by a famous writer in london and the film was long and boring"
for m in nli_bert nli_roberta nli_deberta nli_deberta_v1 nli_modernbert; do
    d="$TMP/$m"
    "$SPARQ" zero-shot "$d" --labels "$LABELS" --template "$TEMPLATE" "${TEXTS[@]}" --threads 2 > "$TMP/$m.jsonl"
    "$SPARQ" zero-shot "$d" -l "$LABELS" -t "$TEMPLATE" --multi-label --file "$TMP/texts.txt" --threads 1 > "$TMP/$m-multi.jsonl"
    "$SPARQ" zero-shot "$d" --labels film "${TEXTS[@]}" > "$TMP/$m-one.jsonl"
    "$SPARQ" zero-shot "$d" --labels "$LABELS" --template "$TEMPLATE" --max-length 20 -- "$LONG" > "$TMP/$m-cut.jsonl"
    # The same lines from stdin and in passes of one pair or of five (whole texts, then split).
    for b in 1 5; do
        "$SPARQ" zero-shot "$d" --labels "$LABELS" --template "$TEMPLATE" --batch-size $b < "$TMP/texts.txt" > "$TMP/$m-b$b.jsonl"
        cmp "$TMP/$m.jsonl" "$TMP/$m-b$b.jsonl"
    done
    # The ids of every pair, untruncated; the text and the hypotheses alone (for the cut).
    IFS=, read -ra LS <<< "$LABELS"
    for t in "${TEXTS[@]}" "$LONG"; do
        for l in "${LS[@]}"; do
            l="$(echo "$l" | xargs)"
            "$SPARQ" tokenize "$d" "$t" --pair "${TEMPLATE/\{\}/$l}"
        done
    done > "$TMP/$m-tok.jsonl"
    "$SPARQ" tokenize "$d" "$LONG" > "$TMP/$m-long.jsonl"
    for t in "${TEXTS[@]}"; do "$SPARQ" tokenize "$d" "$t" --pair "This example is film."; done > "$TMP/$m-tok-one.jsonl"
    "$SPARQ" classify "$d" "${TEXTS[0]}" --pair "${TEMPLATE/\{\}/book}" > "$TMP/$m-classify.jsonl"
done

PYTHONPATH="$SRC/tools" $PY - "$TMP" "$LABELS" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
tmp, labels = sys.argv[1], [l.strip() for l in sys.argv[2].split(",")]
texts = open(f"{tmp}/texts.txt").read().splitlines()
L = len(labels)

def lines(name):
    return [json.loads(l) for l in open(f"{tmp}/{name}")]

def softmax(x):
    e = np.exp(np.asarray(x, dtype=np.float64) - np.max(x))
    return e / e.sum()

def check(got, want, text, index, what):
    assert got["index"] == index and got["sequence"] == text, (what, got)
    order = list(np.argsort(-np.asarray(want), kind="stable"))
    assert got["labels"] == [want_labels[i] for i in order], (what, got, want)
    assert np.abs(np.asarray(got["scores"]) - np.asarray(want)[order]).max() < 1e-5, (what, got, want)

for m, ent, con in (("nli_bert", 2, 0), ("nli_roberta", 0, 2), ("nli_deberta", 2, 0), ("nli_deberta_v1", 2, 0),
                    ("nli_modernbert", 2, 0)):
    d = f"{tmp}/{m}"
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    def logits(toks):
        return [ref.forward(cfg, w, [t["ids"]], [[1] * len(t["ids"])], [t["type_ids"]])["logits"][0]
                for t in toks]
    pairs = logits(lines(f"{m}-tok.jsonl"))
    want_labels = labels
    single, multi = lines(f"{m}.jsonl"), lines(f"{m}-multi.jsonl")
    assert len(single) == len(multi) == len(texts)
    for t, text in enumerate(texts):
        lg = pairs[t * L:(t + 1) * L]
        check(single[t], softmax([x[ent] for x in lg]), text, t, m + " single")
        check(multi[t], [softmax([x[con], x[ent]])[1] for x in lg], text, t, m + " multi")
        assert abs(sum(single[t]["scores"]) - 1) < 1e-5
    # One label: entailment against contradiction, without --multi-label.
    want_labels = ["film"]
    for t, (got, lg) in enumerate(zip(lines(f"{m}-one.jsonl"), logits(lines(f"{m}-tok-one.jsonl")))):
        check(got, [softmax([lg[con], lg[ent]])[1]], texts[t], t, m + " one label")
    # sparq classify's probabilities of the same pair: P(ent) / (P(ent) + P(con)).
    p = lines(f"{m}-classify.jsonl")[0]["scores"]
    names = cfg["id2label"]
    want = p[names[str(ent)]] / (p[names[str(ent)]] + p[names[str(con)]])
    got = multi[0]["scores"][multi[0]["labels"].index("book")]
    assert abs(got - want) < 1e-5, (m, got, want)
    # --max-length 20: only the text loses tokens (HF's truncation="only_first").
    want_labels = labels
    full = lines(f"{m}-tok.jsonl")[len(texts) * L:]
    n_text = len(lines(f"{m}-long.jsonl")[0]["ids"]) - 2
    cut = []
    for t in full:
        keep = 20 - (len(t["ids"]) - n_text)
        assert 0 < keep < n_text, (keep, n_text)
        cut.append({k: t[k][:1 + keep] + t[k][1 + n_text:] for k in ("ids", "type_ids")})
        assert len(cut[-1]["ids"]) == 20
    got = lines(f"{m}-cut.jsonl")[0]
    check(got, softmax([x[ent] for x in logits(cut)]), got["sequence"], 0, m + " truncated")
print("zero-shot: scores and order match the reference (single-label, multi-label, one label, truncated; BERT, RoBERTa, DeBERTa v2 and v1, ModernBERT)")
PYEOF

# Errors: one line on stderr; 1 for the model, 2 for the command line.
expect() {  # expect CODE PATTERN ARGS...
    local code=$1 pattern=$2 rc=0
    shift 2
    "$SPARQ" zero-shot "$@" > /dev/null 2> "$TMP/err" < /dev/null || rc=$?
    [ "$rc" = "$code" ] || { cat "$TMP/err"; echo "expected exit $code, got $rc: $*"; exit 1; }
    [ "$(wc -l < "$TMP/err")" = 1 ] || { cat "$TMP/err"; echo "not one line: $*"; exit 1; }
    grep -q "^sparq: error: .*$pattern" "$TMP/err" || { cat "$TMP/err"; echo "no '$pattern': $*"; exit 1; }
}
D="$TMP/nli_bert"
expect 1 "entailment label.*negative, positive" "$FIX/tiny_cls" --labels a,b x
expect 1 "zero-shot needs an NLI model.*task is base" "$FIX/tiny_base" --labels a,b x
expect 1 "zero-shot needs an NLI model.*task is token-classification" "$FIX/tiny_tok" --labels a,b x
expect 2 "must hold {} exactly once" "$D" --labels a,b --template "no slot" x
expect 2 "must hold {} exactly once" "$D" --labels a,b --template "{} and {}" x
expect 2 "at least one candidate label" "$D" --labels "" x
expect 2 "label 1 of 2 is empty" "$D" --labels " , " x
expect 2 "label 2 of 3 is empty" "$D" --labels "a,,b" x
expect 2 "labels is required" "$D" x
expect 1 "leaves no room for the first text" "$D" --labels "a very long label indeed" --max-length 8 x
echo "zero-shot errors: ok"
