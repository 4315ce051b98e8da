#!/usr/bin/env bash
# sparq embed on SPLADE models: a sentence-transformers SparseEncoder directory (modules.json:
# MLMTransformer + SpladePooling) around tiny_mlm embeds as SPLADE by itself; its vocabulary
# weights equal sentence-transformers' SpladePooling transcribed on the PyTorch reference's
# masked-LM logits (tools/bert_reference.py, the ids sparq tokenizes), for the default (max, relu)
# and for sum / log1p_relu; --pooling splade on the bare checkpoint gives the same, and on
# ModernBERT's and ALBERT's masked-LM checkpoints matches the reference too; --top-k; the
# refusals are one line with exit 1 (bad data) or 2 (bad command line).
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_mlm"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
D="$TMP/splade"
mkdir -p "$D/1_SpladePooling"
cp "$M"/config.json "$M"/model.safetensors "$M"/vocab.txt "$M"/tokenizer_config.json "$D"/
cat > "$D/modules.json" <<'JSON'
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.sparse_encoder.models.MLMTransformer"},
 {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": "sentence_transformers.sparse_encoder.models.SpladePooling"}]
JSON
echo '{"pooling_strategy": "max", "activation_function": "relu", "word_embedding_dimension": 390}' \
  > "$D/1_SpladePooling/config.json"
T1="the movie was great !"; T2="she thought the old house was small ."; T3="a"
"$SPARQ" tokenize "$D" "$T1" "$T2" "$T3" > "$TMP/tok.jsonl"
"$SPARQ" embed "$D" "$T1" "$T2" "$T3" --threads 2 > "$TMP/max_relu.jsonl"
"$SPARQ" embed "$M" --pooling splade "$T1" "$T2" "$T3" --threads 1 > "$TMP/plain.jsonl"
"$SPARQ" embed "$D" "$T1" --top-k 3 > "$TMP/top3.jsonl"
for v in "sum relu" "max log1p_relu"; do
  set -- $v
  echo "{\"pooling_strategy\": \"$1\", \"activation_function\": \"$2\"}" > "$D/1_SpladePooling/config.json"
  "$SPARQ" embed "$D" "$T1" "$T2" "$T3" > "$TMP/$1_$2.jsonl"
done
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import torch
import bert_reference as ref
m, tmp = sys.argv[1:3]
cfg = json.load(open(m + "/config.json"))
w, _, _ = ref.read_safetensors(m + "/model.safetensors")
inv = {i: t for t, i in ref.load_vocab(m + "/vocab.txt").items()}
toks = [json.loads(l) for l in open(tmp + "/tok.jsonl")]
def lines(name):
    return [json.loads(l) for l in open(f"{tmp}/{name}.jsonl")]
for name, strategy, act in (("max_relu", "max", "relu"), ("sum_relu", "sum", "relu"),
                            ("max_log1p_relu", "max", "log1p_relu")):
    for t, got in zip(toks, lines(name)):
        ids = t["ids"]
        logits = torch.from_numpy(ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["mlm_logits"][0])
        y = torch.log1p(torch.relu(logits))
        if act == "log1p_relu":
            y = torch.log1p(y)
        want = (y.max(dim=0).values if strategy == "max" else y.sum(dim=0)).numpy()
        dense = np.zeros_like(want)
        dense[got["indices"]] = got["values"]
        assert np.abs(dense - want).max() < 1e-4 * (1 + want.max()), (name, np.abs(dense - want).max())
        assert sorted(got["values"], reverse=True) == got["values"], name
        assert len(got["indices"]) == int((want > 0).sum()) or np.abs(want[want > 0]).min() < 1e-6, name
        assert got["tokens"] == [inv[i] for i in got["indices"]], name
assert lines("plain") == lines("max_relu"), "--pooling splade on the checkpoint = the SparseEncoder dir"
top = lines("top3")[0]
full = lines("max_relu")[0]
assert top["indices"] == full["indices"][:3] and top["values"] == full["values"][:3], (top, full)
print("splade: max/relu, sum/relu, max/log1p_relu match the reference; --top-k")
PYEOF
# Other families' masked-LM heads (ModernBERT's head.dense + GELU + head.norm with the tied
# decoder; ALBERT's predictions to embedding_size with gelu_new): --pooling splade against the
# reference's logits at every token.
for fam in tiny_modernbert tiny_albert_mlm; do
  "$SPARQ" tokenize "$SRC/tests/fixtures/$fam" "$T1" "$T2" > "$TMP/$fam.tok.jsonl"
  "$SPARQ" embed "$SRC/tests/fixtures/$fam" --pooling splade "$T1" "$T2" --threads 1 > "$TMP/$fam.jsonl"
done
PYTHONPATH="$SRC/tools" $PY - "$SRC/tests/fixtures" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import torch
import bert_reference as ref
fx, tmp = sys.argv[1:3]
for fam in ("tiny_modernbert", "tiny_albert_mlm"):
    cfg = json.load(open(f"{fx}/{fam}/config.json"))
    w, _, _ = ref.read_safetensors(f"{fx}/{fam}/model.safetensors")
    toks = [json.loads(l) for l in open(f"{tmp}/{fam}.tok.jsonl")]
    for t, l in zip(toks, open(f"{tmp}/{fam}.jsonl")):
        got = json.loads(l)
        ids = t["ids"]
        logits = torch.from_numpy(ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["mlm_logits"][0])
        want = torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()
        dense = np.zeros_like(want)
        dense[got["indices"]] = got["values"]
        assert np.abs(dense - want).max() < 1e-4 * (1 + want.max()), (fam, np.abs(dense - want).max())
        assert len(got["indices"]) > 10, fam
print("splade: ModernBERT's and ALBERT's heads match the reference")
PYEOF
# Refusals: one line each, exit 1 for bad data, 2 for a bad command line.
expect() {  # expect CODE PATTERN -- command...
  local code="$1" pat="$2"; shift 3
  set +e; "$@" > "$TMP/out" 2> "$TMP/err"; local rc=$?; set -e
  [ "$rc" = "$code" ] || { echo "expected exit $code, got $rc: $*"; cat "$TMP/err"; exit 1; }
  [ "$(wc -l < "$TMP/err")" = 1 ] || { echo "expected one line: $*"; cat "$TMP/err"; exit 1; }
  grep -q -- "$pat" "$TMP/err" || { echo "expected '$pat': $*"; cat "$TMP/err"; exit 1; }
}
expect 1 "SPLADE pooling: the model has no masked-LM head" -- "$SPARQ" embed "$SRC/tests/fixtures/tiny_base" --pooling splade "a"
expect 2 "\-\-top-k needs \-\-pooling splade" -- "$SPARQ" embed "$M" --top-k 3 "a"
expect 2 "\-\-truncate-dim needs" -- "$SPARQ" embed "$D" --truncate-dim 5 "a"
echo '{"pooling_strategy": "mean"}' > "$D/1_SpladePooling/config.json"
expect 1 "field 'pooling_strategy' must be \"max\" or \"sum\"" -- "$SPARQ" embed "$D" "a"
echo '{"activation_function": "gelu"}' > "$D/1_SpladePooling/config.json"
expect 1 "field 'activation_function' must be \"relu\" or \"log1p_relu\"" -- "$SPARQ" embed "$D" "a"
echo '{}' > "$D/1_SpladePooling/config.json"
cp "$SRC/tests/fixtures/tiny_base/model.safetensors" "$SRC/tests/fixtures/tiny_base/config.json" "$D"/
expect 1 "has a SpladePooling module, but the model has no masked-LM head" -- "$SPARQ" embed "$D" "a"
echo "splade: refusals"
