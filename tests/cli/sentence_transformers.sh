#!/usr/bin/env bash
# A sentence-transformers directory (modules.json: Transformer, Pooling, Normalize;
# sentence_bert_config.json: max_seq_length) embedded as SentenceTransformer.encode does:
# `sparq embed` with no options pools and normalizes as the modules say and truncates at
# max_seq_length, checked against the PyTorch reference (tools/bert_reference.py) on the same
# ids; explicit options override the directory; Dense modules run between Pooling and Normalize;
# a module sparq does not run is a clear one-line error, not a silently different vector.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
D="$TMP/st"; mkdir -p "$D/1_Pooling"
cp "$SRC/tests/fixtures/tiny_base/"{config.json,model.safetensors,vocab.txt,tokenizer_config.json} "$D/"
cat > "$D/modules.json" <<'JSON'
[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
JSON
pooling() {
    echo "{\"word_embedding_dimension\": 32, \"pooling_mode_cls_token\": $1, \"pooling_mode_mean_tokens\": $2, \"pooling_mode_max_tokens\": $3}" > "$D/1_Pooling/config.json"
}
echo '{"max_seq_length": 8, "do_lower_case": true}' > "$D/sentence_bert_config.json"
T="she thought the old city was wonderful , but the people were unfriendly ."

"$SPARQ" tokenize "$D" "$T" --max-length 8 > "$TMP/tok8.jsonl"
"$SPARQ" tokenize "$D" "$T" > "$TMP/tok.jsonl"
pooling false true false
"$SPARQ" embed "$D" "$T" --threads 1 > "$TMP/mean_norm.jsonl"
"$SPARQ" embed "$D" "$T" --threads 1 --no-normalize --max-length 64 > "$TMP/mean.jsonl"
pooling false false true
"$SPARQ" embed "$D" "$T" --threads 2 > "$TMP/max_norm.jsonl"
pooling true false false
"$SPARQ" embed "$D" "$T" --threads 1 --pooling mean > "$TMP/override.jsonl"

PYTHONPATH="$SRC/tools" $PY - "$D" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d, tmp = sys.argv[1:3]
line = lambda n: json.loads(open(f"{tmp}/{n}.jsonl").readline())
cfg = json.load(open(f"{d}/config.json"))
w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
def hidden(ids):
    return ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["last_hidden_state"][0]
ids8, ids = line("tok8")["ids"], line("tok")["ids"]
assert len(ids8) == 8 and ids8[-1] == ids[-1] and len(ids) > 8, (ids8, ids)   # [CLS] .. [SEP]
h8, h = hidden(ids8), hidden(ids)
unit = lambda v: v / np.linalg.norm(v)
def check(name, want):
    got = np.array(line(name)["embedding"])
    err = np.abs(got - want).max()
    assert err < 1e-4, (name, err)
check("mean_norm", unit(h8.mean(axis=0)))          # max_seq_length 8, mean, Normalize
check("mean", h.mean(axis=0))                       # --no-normalize --max-length 64
check("max_norm", unit(h8.max(axis=0)))
check("override", unit(h8.mean(axis=0)))            # --pooling mean over the directory's cls
print("sentence-transformers directory: matches the reference")
PYEOF

# The older layout: the model files (and sentence_bert_config.json) in the Transformer module's
# folder, modules.json and the Pooling / Normalize modules at the top: the same vectors.
O="$TMP/old"; mkdir -p "$O/0_Transformer"
pooling false true false
cp -r "$D/1_Pooling" "$O/"
cp "$D/"{config.json,model.safetensors,vocab.txt,tokenizer_config.json,sentence_bert_config.json} "$O/0_Transformer/"
sed 's|"path": ""|"path": "0_Transformer"|' "$D/modules.json" > "$O/modules.json"
"$SPARQ" embed "$D" "$T" --threads 1 > "$TMP/new_layout.jsonl"
"$SPARQ" embed "$O" "$T" --threads 1 > "$TMP/old_layout.jsonl"
cmp "$TMP/new_layout.jsonl" "$TMP/old_layout.jsonl" || { echo "old layout embeds differently"; exit 1; }

# prune and quantize keep a sentence-transformers directory one (modules.json, the Pooling and
# Normalize folders, sentence_bert_config.json): the copy embeds with the source's pooling (here
# CLS), normalization and length by default; from the older layout (model in 0_Transformer/) too,
# giving the same weights.
pooling true false false
cp "$D/1_Pooling/config.json" "$O/1_Pooling/config.json"
"$SPARQ" prune "$D" "$TMP/pr" --sparsity 0.5 > /dev/null
"$SPARQ" prune "$O" "$TMP/pr_old" --sparsity 0.5 > /dev/null
cmp "$TMP/pr/model.safetensors" "$TMP/pr_old/model.safetensors"
"$SPARQ" quantize "$O" "$TMP/q_old" > /dev/null
for m in pr pr_old q_old; do
    for f in modules.json 1_Pooling/config.json sentence_bert_config.json; do
        [ -f "$TMP/$m/$f" ] || { echo "$m: $f missing"; exit 1; }
    done
    grep -q '"path": ""' "$TMP/$m/modules.json"
    "$SPARQ" embed "$TMP/$m" "$T" --threads 1 > "$TMP/$m-default.jsonl"
    "$SPARQ" embed "$TMP/$m" "$T" --threads 1 --pooling cls --normalize --max-length 8 > "$TMP/$m-explicit.jsonl"
    cmp "$TMP/$m-default.jsonl" "$TMP/$m-explicit.jsonl" || { echo "$m: embeds differently from its source's settings"; exit 1; }
done

# Prompts (config_sentence_transformers.json) as SentenceTransformer.encode: the prompt text goes
# before the input; default_prompt_name applies without --prompt / --prompt-name; with the Pooling
# module's include_prompt false, mean pooling leaves out [CLS] and the prompt's tokens
# (prompt_length = len(tokenize(prompt)) - 1); --truncate-dim keeps the first dimensions of the
# normalized vector. Unknown prompt names are one-line errors.
P="$TMP/prompts"; cp -r "$D" "$P"
echo '{"prompts": {"query": "query : ", "doc": "passage : "}, "default_prompt_name": "query"}' \
    > "$P/config_sentence_transformers.json"
echo '{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true, "include_prompt": false}' \
    > "$P/1_Pooling/config.json"
echo '{"max_seq_length": 64}' > "$P/sentence_bert_config.json"
S="the movie was great !"
"$SPARQ" embed "$P" "$S" --threads 1 > "$TMP/p_default.jsonl"
"$SPARQ" embed "$P" "$S" --prompt-name doc --threads 1 --truncate-dim 8 > "$TMP/p_doc8.jsonl"
"$SPARQ" embed "$P" "$S" --prompt "" --threads 1 > "$TMP/p_none.jsonl"
"$SPARQ" tokenize "$P" "query : $S" > "$TMP/p_tokq.jsonl"
"$SPARQ" tokenize "$P" "passage : $S" > "$TMP/p_tokd.jsonl"
"$SPARQ" tokenize "$P" "$S" > "$TMP/p_tok.jsonl"
"$SPARQ" tokenize "$P" "query : " "passage : " > "$TMP/p_tokp.jsonl"
PYTHONPATH="$SRC/tools" $PY - "$P" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d, tmp = sys.argv[1:3]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]
cfg = json.load(open(f"{d}/config.json"))
w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
hidden = lambda ids: ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["last_hidden_state"][0]
unit = lambda v: v / np.linalg.norm(v)
plen = [len(t["ids"]) - 1 for t in lines("p_tokp")]           # [CLS] + the prompt's tokens
hq, hd, h0 = (hidden(lines(n)[0]["ids"]) for n in ("p_tokq", "p_tokd", "p_tok"))
def check(name, want):
    got = np.array(lines(name)[0]["embedding"])
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4, (name, np.abs(got - want).max())
check("p_default", unit(hq[plen[0]:].mean(axis=0)))            # default prompt "query : "
check("p_doc8", unit(hd[plen[1]:].mean(axis=0))[:8])            # --prompt-name doc, first 8 dims
check("p_none", unit(h0.mean(axis=0)))                          # --prompt "": nothing left out
print("sentence-transformers prompts: match the reference")
PYEOF
if "$SPARQ" embed "$P" x --prompt-name nope > /dev/null 2> "$TMP/err.txt"; then exit 1; fi
grep -q "^sparq: error: prompt name 'nope' is not one of the model's prompts (it has: doc, query)" "$TMP/err.txt" ||
    { cat "$TMP/err.txt"; exit 1; }
if "$SPARQ" embed "$P" x --truncate-dim 33 > /dev/null 2> "$TMP/err.txt"; then exit 1; fi
grep -q "truncate-dim 33 is more than the model's 32 dimensions" "$TMP/err.txt"

# Dense modules between Pooling and Normalize (as distiluse / LaBSE models): y = act(W x + b) on
# the pooled vector, in modules.json's order, then Normalize. Here a 32 -> 16 Tanh layer with a
# bias (model.safetensors) and a 16 -> 12 Identity layer without one (pytorch_model.bin,
# torch.save), against the reference's pooled vector; --truncate-dim and serve-size checks use the
# last Dense size; prune keeps the Dense folders; a Dense before Pooling, an unknown activation and
# sizes that do not chain are one-line errors.
X="$TMP/dense"; cp -r "$D" "$X"; mkdir -p "$X/2_Dense" "$X/3_Dense"
pooling false true false; cp "$D/1_Pooling/config.json" "$X/1_Pooling/config.json"
echo '{"max_seq_length": 64}' > "$X/sentence_bert_config.json"
PYTHONPATH="$SRC/tools" $PY - "$X" <<'PYEOF'
import json, sys
import numpy as np, torch
import bert_reference as ref
x = sys.argv[1]
rng = np.random.default_rng(5)
w1 = (rng.standard_normal((16, 32)) * 0.3).astype(np.float32)
b1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((12, 16)) * 0.4).astype(np.float32)
ref.write_safetensors(f"{x}/2_Dense/model.safetensors", {"linear.weight": w1, "linear.bias": b1})
torch.save({"linear.weight": torch.from_numpy(w2)}, f"{x}/3_Dense/pytorch_model.bin")
json.dump({"in_features": 32, "out_features": 16, "bias": True,
           "activation_function": "torch.nn.modules.activation.Tanh"}, open(f"{x}/2_Dense/config.json", "w"))
json.dump({"in_features": 16, "out_features": 12, "bias": False,
           "activation_function": "torch.nn.modules.linear.Identity"}, open(f"{x}/3_Dense/config.json", "w"))
m = json.load(open(f"{x}/modules.json"))
m = m[:2] + [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
             {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
             dict(m[2], idx=4, name="4")]
json.dump(m, open(f"{x}/modules.json", "w"))
PYEOF
"$SPARQ" embed "$X" "$T" "$S" --threads 1 > "$TMP/dense.jsonl"
"$SPARQ" embed "$X" "$T" --threads 2 --no-normalize --pooling cls --truncate-dim 5 > "$TMP/dense_cls5.jsonl"
"$SPARQ" tokenize "$X" "$T" "$S" > "$TMP/dense_tok.jsonl"
"$SPARQ" prune "$X" "$TMP/dense_p0" --sparsity 0 > /dev/null
"$SPARQ" embed "$TMP/dense_p0" "$T" "$S" --threads 1 > "$TMP/dense_p0.jsonl"
cmp "$TMP/dense.jsonl" "$TMP/dense_p0.jsonl" || { echo "pruned copy lost its Dense modules"; exit 1; }
PYTHONPATH="$SRC/tools" $PY - "$X" "$TMP" <<'PYEOF'
import json, sys
import numpy as np, torch
import bert_reference as ref
x, tmp = sys.argv[1:3]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]
cfg = json.load(open(f"{x}/config.json"))
w, _, _ = ref.read_safetensors(f"{x}/model.safetensors")
d1, _, _ = ref.read_safetensors(f"{x}/2_Dense/model.safetensors")
w2 = torch.load(f"{x}/3_Dense/pytorch_model.bin")["linear.weight"].numpy().astype(np.float64)
dense = lambda v: w2 @ np.tanh(d1["linear.weight"] @ v + d1["linear.bias"])
unit = lambda v: v / np.linalg.norm(v)
for t, got in zip(lines("dense_tok"), lines("dense")):
    h = ref.forward(cfg, w, [t["ids"]], [[1] * len(t["ids"])], [[0] * len(t["ids"])])["last_hidden_state"][0]
    want = unit(dense(h.mean(axis=0)))
    assert len(got["embedding"]) == 12 and np.abs(np.array(got["embedding"]) - want).max() < 1e-4, got
    if t is lines("dense_tok")[0]:
        want5 = dense(h[0])[:5]                            # --pooling cls --no-normalize, 5 dims
        got5 = np.array(lines("dense_cls5")[0]["embedding"])
        assert got5.shape == (5,) and np.abs(got5 - want5).max() < 1e-4, (got5, want5)
print("sentence-transformers Dense modules: match the reference")
PYEOF
if "$SPARQ" embed "$X" x --truncate-dim 13 > /dev/null 2> "$TMP/err.txt"; then exit 1; fi
grep -q "truncate-dim 13 is more than the model's 12 dimensions" "$TMP/err.txt"
dense_error() {  # dense_error PATTERN: the edited $X is refused in one line
    if "$SPARQ" embed "$X" "x" > /dev/null 2> "$TMP/err.txt"; then echo "accepted: $1"; exit 1; fi
    grep -q "^sparq: error: .*$1" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
    [ "$(wc -l < "$TMP/err.txt")" = 1 ] || { cat "$TMP/err.txt"; exit 1; }
}
cp "$X/3_Dense/config.json" "$TMP/d3.json"
sed -i 's/"in_features": 16/"in_features": 15/' "$X/3_Dense/config.json"
dense_error "in_features 15, expected 16"
sed 's/linear.Identity/activation.Softplus/' "$TMP/d3.json" > "$X/3_Dense/config.json"
dense_error "activation_function 'torch.nn.modules.activation.Softplus' is not supported"
cp "$TMP/d3.json" "$X/3_Dense/config.json"
$PY - "$X/modules.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m[1], m[2] = m[2], m[1]                                  # Dense before Pooling
json.dump(m, open(sys.argv[1], "w"))
PYEOF
dense_error "a Dense module (2_Dense) is only supported between Pooling and Normalize"
echo "sentence-transformers errors: ok"
