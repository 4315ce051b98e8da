#!/usr/bin/env bash
# pytorch_model.bin (torch.save's zip format) read in place, without running its pickle: a
# directory holding only pytorch_model.bin gives the same outputs, bit for bit, as the same
# weights in model.safetensors — also with F16 tensors, tensors at an offset inside a shared
# storage and two names sharing one storage (tied weights) — `inspect` reads it, and `prune` /
# `quantize` take it and write safetensors. A pickle
# that calls anything but the tensor-rebuilding functions, a non-contiguous tensor, a truncated
# file and a compressed record are one-line errors.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
M="$SRC/tests/fixtures/tiny_cls"
T1="the movie was great !"; T2="who wrote the book ?"
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" <<'PYEOF'
import collections, os, pickle, shutil, sys, zipfile
import numpy as np, torch
import bert_reference as ref
m, tmp = sys.argv[1:3]
w, _, _ = ref.read_safetensors(f"{m}/model.safetensors")
def directory(name, sd, st=None):
    d = f"{tmp}/{name}"
    shutil.copytree(m, d)
    os.remove(f"{d}/model.safetensors")
    torch.save(sd, f"{d}/pytorch_model.bin")
    if st is not None:  # the same values as safetensors, for comparison
        os.makedirs(f"{tmp}/{name}_st")
        shutil.copytree(m, f"{tmp}/{name}_st", dirs_exist_ok=True)
        ref.write_safetensors(f"{tmp}/{name}_st/model.safetensors", st)
    return d
t = {k: torch.from_numpy(v.copy()) for k, v in w.items()}
directory("plain", collections.OrderedDict(t))
# F16 everywhere; the word embeddings a view at an offset of a larger storage; the classifier
# weight sharing the pooler's storage rows (tied, overlapping).
h = {k: v.half() for k, v in t.items()}
big = torch.cat([torch.zeros(7, 32, dtype=torch.float16), h["bert.embeddings.word_embeddings.weight"]])
h["bert.embeddings.word_embeddings.weight"] = big[7:]
pool = h["bert.pooler.dense.weight"]
h["classifier.weight"] = pool[:2]
st = {k: v.float().numpy().astype(np.float16) for k, v in h.items()}
directory("f16", collections.OrderedDict(h), {k: v for k, v in st.items()})
# Refusals.
d = directory("noncontig", collections.OrderedDict({**t, "bert.pooler.dense.weight": t["bert.pooler.dense.weight"].t()}))
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > " + tmp + "/pwned",))
# data.pkl replaced by a pickle that calls os.system.
d = directory("evil", collections.OrderedDict(t))
src = zipfile.ZipFile(f"{d}/pytorch_model.bin")
names = src.namelist()
with zipfile.ZipFile(f"{d}/x.bin", "w", zipfile.ZIP_STORED) as z:
    for n in names:
        z.writestr(n, pickle.dumps({"x": Evil()}, protocol=2) if n.endswith("data.pkl") else src.read(n))
os.replace(f"{d}/x.bin", f"{d}/pytorch_model.bin")
d = directory("deflated", collections.OrderedDict(t))
src = zipfile.ZipFile(f"{d}/pytorch_model.bin")
with zipfile.ZipFile(f"{d}/x.bin", "w", zipfile.ZIP_DEFLATED) as z:
    for n in src.namelist():
        z.writestr(n, src.read(n))
os.replace(f"{d}/x.bin", f"{d}/pytorch_model.bin")
d = directory("truncated", collections.OrderedDict(t))
data = open(f"{d}/pytorch_model.bin", "rb").read()
open(f"{d}/pytorch_model.bin", "wb").write(data[: len(data) // 2])
PYEOF
"$SPARQ" classify "$M" "$T1" "$T2" --threads 1 > "$TMP/st.jsonl"
"$SPARQ" classify "$TMP/plain" "$T1" "$T2" --threads 1 > "$TMP/bin.jsonl"
cmp "$TMP/st.jsonl" "$TMP/bin.jsonl"
"$SPARQ" embed "$TMP/f16_st" "$T1" "$T2" --threads 1 > "$TMP/f16_st.jsonl"
"$SPARQ" embed "$TMP/f16" "$T1" "$T2" --threads 1 > "$TMP/f16_bin.jsonl"
cmp "$TMP/f16_st.jsonl" "$TMP/f16_bin.jsonl"
"$SPARQ" classify "$TMP/f16_st" "$T1" --threads 1 > "$TMP/f16c_st.jsonl"
"$SPARQ" classify "$TMP/f16" "$T1" --threads 1 > "$TMP/f16c_bin.jsonl"
cmp "$TMP/f16c_st.jsonl" "$TMP/f16c_bin.jsonl"
"$SPARQ" inspect "$TMP/f16" > "$TMP/inspect.txt"
grep -q "^parameters .*(F16 " "$TMP/inspect.txt" || { cat "$TMP/inspect.txt"; exit 1; }
# prune and quantize read it too and write safetensors (prune --sparsity 0 converts): the same
# outputs as from the safetensors source.
"$SPARQ" prune "$TMP/f16" "$TMP/f16_p0" --sparsity 0 > /dev/null
"$SPARQ" prune "$TMP/f16_st" "$TMP/f16_st_p0" --sparsity 0 > /dev/null
[ -f "$TMP/f16_p0/model.safetensors" ] && [ ! -e "$TMP/f16_p0/pytorch_model.bin" ]
"$SPARQ" embed "$TMP/f16_p0" "$T1" "$T2" --threads 1 | cmp - "$TMP/f16_st.jsonl"
"$SPARQ" prune "$TMP/plain" "$TMP/plain_p90" --sparsity 0.9 > /dev/null
"$SPARQ" prune "$M" "$TMP/st_p90" --sparsity 0.9 > /dev/null
"$SPARQ" classify "$TMP/plain_p90" "$T1" --threads 1 | cmp - <("$SPARQ" classify "$TMP/st_p90" "$T1" --threads 1)
"$SPARQ" quantize "$TMP/plain" "$TMP/plain_q" > /dev/null
"$SPARQ" quantize "$M" "$TMP/st_q" > /dev/null
"$SPARQ" classify "$TMP/plain_q" "$T1" --threads 1 | cmp - <("$SPARQ" classify "$TMP/st_q" "$T1" --threads 1)
echo "pytorch_model.bin: same outputs as safetensors (load, prune, quantize)"
for bad in noncontig evil deflated truncated; do
    if "$SPARQ" classify "$TMP/$bad" "$T1" > /dev/null 2> "$TMP/err"; then echo "$bad: accepted"; exit 1; fi
    [ "$(wc -l < "$TMP/err")" = 1 ] || { cat "$TMP/err"; exit 1; }
    grep -q "^sparq: error: .*pytorch_model.bin: " "$TMP/err" || { cat "$TMP/err"; exit 1; }
    cp "$TMP/err" "$TMP/err-$bad"
done
[ ! -e "$TMP/pwned" ]
grep -q "data.pkl calls posix.system, which sparq does not run" "$TMP/err-evil"
grep -q "tensor 'bert.pooler.dense.weight' is not contiguous" "$TMP/err-noncontig"
grep -q "is compressed" "$TMP/err-deflated"
echo "pytorch_model.bin errors: ok"
