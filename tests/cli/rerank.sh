#!/usr/bin/env bash
# sparq rerank: every (query, document) pair through a cross-encoder, ranked. On the two-label
# fixture (tiny_cls) the score is P(label 1) of the PyTorch reference's logits on the ids sparq
# tokenizes (--raw: the log-odds); on a one-label cross-encoder (tiny_cls with only its label-1
# row, as CrossEncoder checkpoints have) it is sigmoid(logit). Documents from arguments, a file or
# stdin give the same ranking; --top-k keeps the first K; models that are no cross-encoder and a
# missing --query are one-line errors.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_cls"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
Q="who wrote the book ?"
printf '%s\n' "the movie was great !" "a famous writer in london wrote the book ." \
    "i did not like it" "the book" "paris" > "$TMP/docs.txt"
mapfile -t DOCS < "$TMP/docs.txt"
# The one-label cross-encoder: classifier row 1 only, num_labels 1.
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP/ce1" <<'PYEOF'
import json, os, shutil, sys
import bert_reference as ref
src, dst = sys.argv[1:3]
shutil.copytree(src, dst)
w, _, _ = ref.read_safetensors(f"{dst}/model.safetensors")
w["classifier.weight"] = w["classifier.weight"][1:2].copy()
w["classifier.bias"] = w["classifier.bias"][1:2].copy()
ref.write_safetensors(f"{dst}/model.safetensors", w)
cfg = json.load(open(f"{dst}/config.json"))
for k in ("id2label", "label2id", "problem_type"):
    cfg.pop(k, None)
cfg["num_labels"] = 1
json.dump(cfg, open(f"{dst}/config.json", "w"))
PYEOF
for m in cls ce1; do
    d=$M; [ $m = ce1 ] && d="$TMP/ce1"
    "$SPARQ" rerank "$d" --query "$Q" "${DOCS[@]}" --threads 2 > "$TMP/$m.jsonl"
    "$SPARQ" rerank "$d" --query "$Q" "${DOCS[@]}" --raw --threads 1 > "$TMP/$m-raw.jsonl"
    "$SPARQ" rerank "$d" -q "$Q" --file "$TMP/docs.txt" --top-k 2 > "$TMP/$m-top.jsonl"
    "$SPARQ" rerank "$d" -q "$Q" < "$TMP/docs.txt" > "$TMP/$m-stdin.jsonl"
    cmp "$TMP/$m.jsonl" "$TMP/$m-stdin.jsonl"
    head -2 "$TMP/$m.jsonl" | cmp - "$TMP/$m-top.jsonl"
    for doc in "${DOCS[@]}"; do "$SPARQ" tokenize "$d" "$Q" --pair "$doc"; done > "$TMP/$m-tok.jsonl"
done
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
m, tmp = sys.argv[1:3]
docs = open(f"{tmp}/docs.txt").read().splitlines()
for name, d in (("cls", m), ("ce1", f"{tmp}/ce1")):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    toks = [json.loads(l) for l in open(f"{tmp}/{name}-tok.jsonl")]
    want, raw = [], []
    for t in toks:
        lg = ref.forward(cfg, w, [t["ids"]], [[1] * len(t["ids"])], [t["type_ids"]])["logits"][0]
        r = lg[0] if name == "ce1" else lg[1] - lg[0]
        raw.append(r)
        want.append(1 / (1 + np.exp(-r)))
    for res, ref_scores in ((f"{name}.jsonl", want), (f"{name}-raw.jsonl", raw)):
        got = [json.loads(l) for l in open(f"{tmp}/{res}")]
        assert [g["rank"] for g in got] == list(range(1, len(docs) + 1)), got
        assert [g["index"] for g in got] == list(np.argsort(-np.array(ref_scores), kind="stable")), (got, ref_scores)
        for g in got:
            assert abs(g["score"] - ref_scores[g["index"]]) < 1e-5, (g, ref_scores)
            assert g["text"] == docs[g["index"]]
print("rerank: scores and order match the reference (two-label and one-label cross-encoders)")
PYEOF
if "$SPARQ" rerank "$SRC/tests/fixtures/tiny_base" -q "$Q" x > /dev/null 2> "$TMP/err"; then exit 1; fi
grep -q "^sparq: error: rerank needs a cross-encoder" "$TMP/err"
set +e; "$SPARQ" rerank "$M" x > /dev/null 2> "$TMP/err"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "query" "$TMP/err"
echo "rerank errors: ok"
