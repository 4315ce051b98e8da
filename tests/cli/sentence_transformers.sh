#!/usr/bin/env bash
# A sentence-transformers directory (modules.json: Transformer, Pooling, Normalize;
# sentence_bert_config.json: max_seq_length) embedded as SentenceTransformer.encode does:
# `sparq embed` with no options pools and normalizes as the modules say and truncates at
# max_seq_length, checked against the PyTorch reference (tools/bert_reference.py) on the same
# ids; explicit options override the directory; a module sparq does not run (Dense) is a clear
# one-line error, not a silently different vector.
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

# A Dense module after pooling changes the embedding: refused, one line, non-zero exit.
$PY - "$D/modules.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
json.dump(m, open(sys.argv[1], "w"))
PYEOF
if "$SPARQ" embed "$D" "x" > /dev/null 2> "$TMP/err.txt"; then echo "a Dense module must be refused"; exit 1; fi
grep -q "^sparq: error: .*modules.json: module 'sentence_transformers.models.Dense'" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
[ "$(wc -l < "$TMP/err.txt")" = 1 ] || { cat "$TMP/err.txt"; exit 1; }
echo "sentence-transformers errors: ok"
