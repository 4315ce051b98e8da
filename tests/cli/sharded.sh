#!/usr/bin/env bash
# Sharded checkpoints (save_pretrained's max_shard_size): a directory with
# model.safetensors.index.json and its shards, or pytorch_model.bin.index.json and torch.save
# shards, loads as the one-file model does (the same classify output, byte for byte); `inspect`
# reads it; `prune` and `quantize` write one model.safetensors with the same tensors as from the
# one-file model. An index naming a missing shard, a tensor its shard does not hold, a file
# outside the directory and an index that is not one are one-line errors.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
M="$SRC/tests/fixtures/tiny_cls"
T1="the movie was great !"; T2="who wrote the book ?"
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" <<'PYEOF'
import json, os, shutil, sys
import torch
import bert_reference as ref
m, tmp = sys.argv[1:3]
w, _, _ = ref.read_safetensors(f"{m}/model.safetensors")
names = sorted(w)
parts = [names[0::3], names[1::3], names[2::3]]  # three shards, tensors interleaved
def directory(name, kind):
    d = f"{tmp}/{name}"
    os.makedirs(d)
    for f in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(f"{m}/{f}", d)
    weight_map = {}
    for i, part in enumerate(parts):
        if kind == "safetensors":
            file = f"model-{i + 1:05d}-of-00003.safetensors"
            ref.write_safetensors(f"{d}/{file}", {k: w[k] for k in part})
        else:
            file = f"pytorch_model-{i + 1:05d}-of-00003.bin"
            torch.save({k: torch.from_numpy(w[k].copy()) for k in part}, f"{d}/{file}")
        weight_map.update({k: file for k in part})
    index = "model.safetensors.index.json" if kind == "safetensors" else "pytorch_model.bin.index.json"
    json.dump({"metadata": {"total_size": sum(v.nbytes for v in w.values())}, "weight_map": weight_map},
              open(f"{d}/{index}", "w"))
directory("st", "safetensors")
directory("bin", "bin")
PYEOF

"$SPARQ" classify "$M" "$T1" "$T2" > "$TMP/one.jsonl"
"$SPARQ" prune "$M" "$TMP/one_p50" --sparsity 0.5 > /dev/null
"$SPARQ" quantize "$M" "$TMP/one_q" > /dev/null
for d in st bin; do
    "$SPARQ" classify "$TMP/$d" "$T1" "$T2" > "$TMP/$d.jsonl"
    cmp "$TMP/one.jsonl" "$TMP/$d.jsonl" || { echo "$d: sharded model classifies differently"; exit 1; }
    "$SPARQ" inspect "$TMP/$d" > "$TMP/$d-inspect.txt"
    grep -q "^architecture  BertForSequenceClassification" "$TMP/$d-inspect.txt" ||
        { cat "$TMP/$d-inspect.txt"; exit 1; }
    "$SPARQ" prune "$TMP/$d" "$TMP/${d}_p50" --sparsity 0.5 > /dev/null
    "$SPARQ" quantize "$TMP/$d" "$TMP/${d}_q" > /dev/null
    for out in p50 q; do
        [ -f "$TMP/${d}_$out/model.safetensors" ] && ! ls "$TMP/${d}_$out/"*index.json 2> /dev/null ||
            { ls "$TMP/${d}_$out"; exit 1; }
    done
done
PYTHONPATH="$SRC/tools" $PY - "$TMP" <<'PYEOF'
import sys
import numpy as np
import bert_reference as ref
tmp = sys.argv[1]
for out in ("p50", "q"):
    want, wd, _ = ref.read_safetensors(f"{tmp}/one_{out}/model.safetensors")
    for d in ("st", "bin"):
        got, gd, _ = ref.read_safetensors(f"{tmp}/{d}_{out}/model.safetensors")
        assert sorted(got) == sorted(want), (d, out)
        for k in want:
            assert gd.get(k) == wd.get(k) and np.array_equal(got[k], want[k]), (d, out, k)
print("sharded checkpoints: prune and quantize write the one-file model's tensors")
PYEOF

# expect PATTERN: the edited directory $TMP/bad is refused in one line, exit 1.
expect() {
    local rc=0
    "$SPARQ" classify "$TMP/bad" "$T1" > /dev/null 2> "$TMP/err" || rc=$?
    [ "$rc" = 1 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "^sparq: error: .*$1" "$TMP/err" ||
        { cat "$TMP/err"; echo "expected exit 1 and one line with '$1', got exit $rc"; exit 1; }
}
bad() { rm -rf "$TMP/bad"; cp -r "$TMP/st" "$TMP/bad"; }
I="$TMP/bad/model.safetensors.index.json"
bad; rm "$TMP/bad/model-00002-of-00003.safetensors"
expect "model-00002-of-00003.safetensors: cannot open"
bad; sed -i 's/"bert.pooler.dense.bias": "model-0000[0-9]-of-00003.safetensors"/"bert.pooler.dense.bias": "model-00001-of-00003.safetensors", "x": "model-00001-of-00003.safetensors"/' "$I"
expect "tensor '.*' is not in its shard"
bad; sed -i 's/"model-00003-of-00003.safetensors"/"..\/model-00003-of-00003.safetensors"/' "$I"
expect "is not a file name in the index's directory"
bad; echo '{"weights": {}}' > "$I"
expect "not a sharded-checkpoint index"
# A tensor a listed shard holds but the weight_map leaves out is read all the same (Hugging Face
# loads every tensor of the shards the index lists): same answers; held by two shards, an error.
bad; sed -i 's/"bert.pooler.dense.weight": "model-0000[0-9]-of-00003.safetensors", *//; s/, *"bert.pooler.dense.weight": "model-0000[0-9]-of-00003.safetensors"//' "$I"
! grep -q "pooler.dense.weight" "$I" || { echo "sed did not drop the entry"; exit 1; }
"$SPARQ" classify "$TMP/bad" "$T1" "$T2" > "$TMP/unnamed.jsonl"
cmp "$TMP/one.jsonl" "$TMP/unnamed.jsonl" || { echo "a tensor left out of the weight_map was not read"; exit 1; }
PYTHONPATH="$SRC/tools" $PY - "$TMP/bad" <<'PYEOF'
import glob, sys
import bert_reference as ref
d = sys.argv[1]
holder = [f for f in glob.glob(f"{d}/model-*.safetensors") if "bert.pooler.dense.weight" in ref.read_safetensors(f)[0]][0]
other = [f for f in glob.glob(f"{d}/model-*.safetensors") if f != holder][0]
w, dt, _ = ref.read_safetensors(other)
w["bert.pooler.dense.weight"] = ref.read_safetensors(holder)[0]["bert.pooler.dense.weight"]
ref.write_safetensors(other, w)
PYEOF
expect "tensor 'bert.pooler.dense.weight' is in shards .* and the weight_map names neither"
echo "sharded checkpoints: ok"
