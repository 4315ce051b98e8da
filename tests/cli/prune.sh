#!/usr/bin/env bash
# sparq prune -> inspect round trip: tiny_cls pruned to 90% per matrix equals the fixture
# generator's independent tiny_sparse weights and gives its answers; 1x4 and global pruning as
# seen by inspect; dtype kept (F16); overrides; output directory rules.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

"$SPARQ" prune "$FIX/tiny_cls" "$TMP/p90" --sparsity 0.9 > "$TMP/p90.txt"
grep -q "bert.encoder.layer.1.output.dense.weight" "$TMP/p90.txt" || { echo "no table"; exit 1; }
for f in config.json vocab.txt tokenizer_config.json model.safetensors; do
  [ -f "$TMP/p90/$f" ] || { echo "missing $f"; exit 1; }
done
cmp -s "$FIX/tiny_cls/config.json" "$TMP/p90/config.json" || { echo "config changed"; exit 1; }
# Same tensors as the independently pruned fixture (the header metadata differs).
$PY - "$FIX/tiny_sparse/model.safetensors" "$TMP/p90/model.safetensors" "$FIX/tiny_cls/model.safetensors" <<'PYEOF'
import json, struct, sys
def read(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
ref, got, orig = read(sys.argv[1]), read(sys.argv[2]), read(sys.argv[3])
assert set(ref) == set(got)
for k in ref:
    assert ref[k] == got[k], k
    enc = "encoder.layer" in k and k.endswith(".weight") and "LayerNorm" not in k
    assert (got[k] != orig[k]) == enc, k
PYEOF
a=$("$SPARQ" classify "$TMP/p90" "the movie was great !" "i did not like it")
b=$("$SPARQ" classify "$FIX/tiny_sparse" "the movie was great !" "i did not like it")
[ "$a" = "$b" ] || { echo "pruned model answers differ from tiny_sparse: $a / $b"; exit 1; }
grep -q "encoder sparsity  90.01%" <<<"$("$SPARQ" inspect "$TMP/p90")" || { echo "inspect after prune"; exit 1; }

# 1x4 blocks: every zero lies in an all-zero block; exact block count per matrix.
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/b14" --sparsity 0.75 --pattern 1x4 > /dev/null
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/b41" --sparsity 0.5 --pattern 4x1 > /dev/null
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/glob" --sparsity 0.8 --scope global > /dev/null
"$SPARQ" prune "$FIX/tiny_f16" "$TMP/f16" --sparsity 0.6 --override 'layer\.1\.=0.3' > /dev/null
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/heads" --sparsity 0.5 --include-heads > /dev/null
for d in b14 b41 glob f16 heads; do "$SPARQ" inspect "$TMP/$d" --json > "$TMP/$d.json"; done
$PY - "$TMP" <<'PYEOF'
import json, sys
t = sys.argv[1]
load = lambda n: json.load(open(f"{t}/{n}.json"))
enc = lambda j: [m for m in j["matrices"] if m["encoder_linear"]]
for m in enc(load("b14")):
    assert m["zeros"] == 4 * m["zero_blocks_1x4"] == 4 * round(0.75 * m["blocks_1x4"]), m
for m in enc(load("b41")):
    assert m["zeros"] == 4 * m["zero_blocks_4x1"] == 4 * round(0.5 * m["blocks_4x1"]), m
g = load("glob")
tot = sum(m["shape"][0] * m["shape"][1] for m in enc(g))
assert sum(m["zeros"] for m in enc(g)) == round(0.8 * tot)
assert len({round(m["sparsity"], 3) for m in enc(g)}) > 3  # matrices differ under global ranking
f = load("f16")
assert list(f["dtypes"]) == ["F16"]
for m in enc(f):
    want = 0.3 if ".layer.1." in m["name"] else 0.6
    assert m["zeros"] == round(want * m["shape"][0] * m["shape"][1]), m
h = {m["name"]: m for m in load("heads")["matrices"]}
assert h["classifier.weight"]["zeros"] == 32 and h["bert.pooler.dense.weight"]["zeros"] == 512
assert h["bert.embeddings.word_embeddings.weight"]["zeros"] == 0
PYEOF

# Overrides are matched in linear time whatever the pattern (std::regex backtracked for minutes
# on this one against 45-character names); an invalid one is a command-line error (exit 2).
rc=0
timeout 60 "$SPARQ" prune "$FIX/tiny_cls" "$TMP/bt" --sparsity 0.5 --override '(.*)*(.*)*(.*)*(.*)*X=0.5' 2> "$TMP/err" || rc=$?
[ $rc = 1 ] && grep -q "matches none of the" "$TMP/err" || { echo "backtracking override: rc $rc"; cat "$TMP/err"; exit 1; }
rc=0
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/bad_re" --sparsity 0.5 --override '[=0.5' 2> "$TMP/err" || rc=$?
[ $rc = 2 ] && grep -q "not a valid regular expression" "$TMP/err" && [ ! -e "$TMP/bad_re" ] || { echo "invalid override: rc $rc"; cat "$TMP/err"; exit 1; }
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/digits" --sparsity 0.5 --override '^bert\.encoder\.layer\.\d+\.output\.dense=0.25' > "$TMP/digits.txt"
grep -q "bert.encoder.layer.1.output.dense.weight .* 25.00%" "$TMP/digits.txt" || { cat "$TMP/digits.txt"; exit 1; }

rc=0; "$SPARQ" prune "$FIX/tiny_cls/config.json" "$TMP/nd" --sparsity 0.5 2> "$TMP/err" || rc=$?
[ $rc = 1 ] && grep -q "is not a directory" "$TMP/err" || { echo "file as MODEL: rc $rc"; cat "$TMP/err"; exit 1; }

# An override value parses as --sparsity does: 1e-400 is 0, -0 is 0 (not -0.00%).
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/tiny_ov" --sparsity -0 --override 'query=1e-400' > "$TMP/tiny_ov.txt"
grep -q "query.weight .* 0.00%     0.00%" "$TMP/tiny_ov.txt" && ! grep -q -- "-0.00%" "$TMP/tiny_ov.txt" ||
  { cat "$TMP/tiny_ov.txt"; exit 1; }

# Output directory rules: OUT == MODEL and a non-empty OUT are refused, --force overwrites.
cp -r "$FIX/tiny_cls" "$TMP/own"
if "$SPARQ" prune "$TMP/own" "$TMP/own" --sparsity 0.5 2> "$TMP/err"; then echo "OUT == MODEL accepted"; exit 1; fi
grep -q "^sparq: error: .*model directory" "$TMP/err" || { cat "$TMP/err"; exit 1; }
cmp -s "$FIX/tiny_cls/model.safetensors" "$TMP/own/model.safetensors" || { echo "model modified"; exit 1; }
if "$SPARQ" prune "$FIX/tiny_cls" "$TMP/p90" --sparsity 0.5 2> "$TMP/err"; then echo "non-empty OUT accepted"; exit 1; fi
grep -q "not empty" "$TMP/err" || { cat "$TMP/err"; exit 1; }
# --force over an older model: the files a model is read from are replaced or removed (a stale
# byte-level tokenizer.json would otherwise be read before vocab.txt), other files stay.
cp "$FIX/tiny_modernbert/tokenizer.json" "$TMP/p90/"
echo "my notes" > "$TMP/p90/notes.txt"
"$SPARQ" prune "$FIX/tiny_cls" "$TMP/p90" --sparsity 0.5 --force > /dev/null
grep -q "encoder sparsity  50.00%" <<<"$("$SPARQ" inspect "$TMP/p90")" || { echo "--force did not rewrite"; exit 1; }
[ ! -e "$TMP/p90/tokenizer.json" ] && [ -f "$TMP/p90/notes.txt" ] || { ls "$TMP/p90"; echo "--force: stale files"; exit 1; }
[ "$("$SPARQ" tokenize "$TMP/p90" "the movie")" = "$("$SPARQ" tokenize "$FIX/tiny_cls" "the movie")" ] ||
  { echo "--force: tokenizer differs from the source's"; exit 1; }
# A source sparq cannot load is refused before anything is written (config against tensors).
mkdir "$TMP/wide"
cp "$FIX/tiny_cls"/* "$TMP/wide/"
$PY - "$TMP/wide/config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1])); c["hidden_size"] = 64; json.dump(c, open(sys.argv[1], "w"))
PYEOF
rc=0
"$SPARQ" prune "$TMP/wide" "$TMP/wide-p" --sparsity 0.5 2> "$TMP/err" || rc=$?
[ $rc = 1 ] && [ ! -e "$TMP/wide-p" ] && grep -q "expected shape" "$TMP/err" || { echo "unloadable source: rc $rc"; cat "$TMP/err"; exit 1; }
echo "prune: ok"
