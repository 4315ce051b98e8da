#!/usr/bin/env bash
# DistilBERT, ELECTRA, MPNet, XLM-R, DeBERTa-v2 and ALBERT end to end, as a user runs them. For each family's sequence
# classifier: `sparq classify` on the fixture's vocabulary (XLM-R, DeBERTa: SentencePiece) equals
# the independent PyTorch reference (tools/bert_reference.py: modeling_distilbert /
# modeling_electra / modeling_mpnet / RoBERTa / modeling_deberta_v2 / modeling_albert semantics) run on the tokenizer's ids (for MPNet also the 90%-pruned copy, on sparse kernels); `sparq prune` finds the 12 linear weights by the family's own names (ALBERT: 24, its 2 groups x 2 shared layers) and
# `sparq inspect` reports their sparsity; `sparq quantize` writes int8 copies of the same
# matrices and keeps the pruned model's labels; XLM-R's and DeBERTa's with a Unigram tokenizer.json
# instead of the .model file give the same. DistilBERT question answering: a pair (token
# types 0/1, which DistilBERT ignores) answers inside the context with the reference's score.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="the movie was great !"
T2="i did not like this film at all , it was really boring ."
QN="where did alice live ?"
CT="alice lived in paris for ten years before she moved to berlin ."
labels() { $PY -c 'import json,sys; print([json.loads(l)["label"] for l in sys.stdin])'; }

for fam in distilbert electra mpnet xlmr deberta deberta_v1 albert; do
    M="$FX/tiny_${fam}_cls"
    arch=$fam; [ $fam = xlmr ] && arch=XLMRoberta; [ $fam = deberta ] && arch=DebertaV2
    [ $fam = deberta_v1 ] && arch=Deberta
    n=12; [ $fam = albert ] && n=24; [ $fam = deberta_v1 ] && n=8  # v1: Q, K, V in one in_proj
    "$SPARQ" tokenize "$M" "$T1" "$T2" > "$TMP/$fam-tok.jsonl"
    "$SPARQ" classify "$M" "$T1" "$T2" --threads 1 > "$TMP/$fam-cls.jsonl"
    "$SPARQ" inspect "$M" --plan > "$TMP/$fam-plan.txt"
    grep -qi "^architecture  ${arch}For" "$TMP/$fam-plan.txt" || { cat "$TMP/$fam-plan.txt"; exit 1; }
    "$SPARQ" prune "$M" "$TMP/$fam-p90" --sparsity 0.9 > "$TMP/$fam-prune.txt"
    grep -q "pruned $n matrices" "$TMP/$fam-prune.txt" || { cat "$TMP/$fam-prune.txt"; exit 1; }
    "$SPARQ" inspect "$TMP/$fam-p90" > "$TMP/$fam-insp.txt"
    grep -Eq "^encoder sparsity  90\.0[0-9]%" "$TMP/$fam-insp.txt" || { cat "$TMP/$fam-insp.txt"; exit 1; }
    "$SPARQ" quantize "$TMP/$fam-p90" "$TMP/$fam-q" > "$TMP/$fam-quant.txt"
    grep -q "$n int8 weight matrices" "$TMP/$fam-quant.txt" || { cat "$TMP/$fam-quant.txt"; exit 1; }
    a=$("$SPARQ" classify "$TMP/$fam-p90" "$T1" "$T2" --threads 1 | labels)
    b=$("$SPARQ" classify "$TMP/$fam-q" "$T1" "$T2" --threads 1 | labels)
    [ "$a" = "$b" ] || { echo "$fam: int8 labels $b differ from f32 $a"; exit 1; }
done
grep -q "^distilbert.transformer.layer.1.ffn.lin1.weight" "$TMP/distilbert-prune.txt"
# XLM-R and DeBERTa-v3 classifiers with Hugging Face's tokenizer.json of their SentencePiece
# model (tiny_*_json) instead of the .model file: the same tokens and the same labels and scores.
for fam in xlmr deberta; do
    cp -r "$FX/tiny_${fam}_cls" "$TMP/$fam-json"
    rm "$TMP/$fam-json/"*.model
    cp "$FX/tiny_${fam}_json/tokenizer.json" "$TMP/$fam-json/"
    "$SPARQ" tokenize "$TMP/$fam-json" "$T1" "$T2" | cmp - "$TMP/$fam-tok.jsonl"
    "$SPARQ" classify "$TMP/$fam-json" "$T1" "$T2" --threads 1 | cmp - "$TMP/$fam-cls.jsonl"
done
grep -q "^mpnet.encoder.layer.1.attention.attn.o.weight" "$TMP/mpnet-prune.txt"
grep -q "^deberta.encoder.layer.1.attention.self.key_proj.weight" "$TMP/deberta-prune.txt"
grep -q "^deberta.encoder.layer.1.attention.self.in_proj.weight" "$TMP/deberta_v1-prune.txt"
# DeBERTa v1's pruned and quantized in_proj runs split into Q, K and V (the head-interleaved rows
# and their int8 scales), on sparse kernels at 2 threads and int8 as the plan says.
"$SPARQ" inspect "$TMP/deberta_v1-q" --plan > "$TMP/deberta_v1-q-plan.txt"
grep -q "^encoder.layer.1.attention.self.in_proj.weight  \[96x32\]  .*int8" \
    "$TMP/deberta_v1-q-plan.txt" || { cat "$TMP/deberta_v1-q-plan.txt"; exit 1; }
"$SPARQ" classify "$TMP/deberta_v1-p90" "$T1" "$T2" --threads 2 --kernels sparse \
    > "$TMP/deberta_v1-p90-cls.jsonl"
# relative_attention false: plain attention, still scaled by 1 / sqrt(d (1 + the pos_att_type
# terms)) as Hugging Face does.
cp -r "$FX/tiny_deberta_v1_cls" "$TMP/deberta_v1-norel"
$PY -c 'import json,sys; p=sys.argv[1]+"/config.json"; c=json.load(open(p)); c["relative_attention"]=False; json.dump(c,open(p,"w"))' "$TMP/deberta_v1-norel"
"$SPARQ" classify "$TMP/deberta_v1-norel" "$T1" "$T2" > "$TMP/deberta_v1-norel-cls.jsonl"
# DeBERTa-v2 with share_att_key false: each layer's own pos_key_proj / pos_query_proj (random
# ones added to a copy of the fixture).
cp -r "$FX/tiny_deberta_cls" "$TMP/deberta-ownpos"
PYTHONPATH="$SRC/tools" $PY - "$TMP/deberta-ownpos" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
d = sys.argv[1]
c = json.load(open(f"{d}/config.json")); c["share_att_key"] = False
json.dump(c, open(f"{d}/config.json", "w"))
w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
rng = np.random.default_rng(5)
h = c["hidden_size"]
for i in range(c["num_hidden_layers"]):
    for n in ("pos_key_proj", "pos_query_proj"):
        p = f"deberta.encoder.layer.{i}.attention.self.{n}"
        w[p + ".weight"] = (rng.standard_normal((h, h)) * 0.2).astype(np.float32)
        w[p + ".bias"] = (rng.standard_normal(h) * 0.2).astype(np.float32)
ref.write_safetensors(f"{d}/model.safetensors", w)
PYEOF
"$SPARQ" classify "$TMP/deberta-ownpos" "$T1" "$T2" > "$TMP/deberta-ownpos-cls.jsonl"
grep -q "^albert.encoder.albert_layer_groups.1.albert_layers.1.ffn_output.weight" "$TMP/albert-prune.txt"
grep -q "^encoder.embedding_hidden_mapping_in.weight  \[32x16\]" "$TMP/albert-plan.txt" ||
    { cat "$TMP/albert-plan.txt"; exit 1; }
# DeBERTa's int8 copies run int8 attention (QK^T, the c2p / p2c products, softmax and P.V on
# int8): the plan says so, and v2 and v1 keep the labels and the scores within 0.03 of the same
# model with f32 attention (the loop above compared labels with the f32 copies).
"$SPARQ" inspect "$TMP/deberta-q" --plan > "$TMP/deberta-q-plan.txt"
grep -q "^attention  int8  .*; disentangled (DeBERTa: c2p + p2c, span 16; the relative products int8 too)" \
    "$TMP/deberta-q-plan.txt" || { cat "$TMP/deberta-q-plan.txt"; exit 1; }
grep -q "^encoder.layer.1.attention.self.{query,key,value}_proj.weight  \[96x32\]  .*int8" \
    "$TMP/deberta-q-plan.txt" || { cat "$TMP/deberta-q-plan.txt"; exit 1; }
"$SPARQ" inspect "$TMP/deberta-q" --plan --attention f32 | grep -q "^attention  f32 .*disentangled"
# On sparse int8 kernels throughout, the hidden states stay tile-major between the layers (TFM)
# around the DeBERTa int8 attention, at 1 and 2 threads (the attention of a thread team): the
# same scores as token-major (SPARQ_NO_TFM=1) within 1e-5.
"$SPARQ" inspect "$TMP/deberta-q" --plan --kernels sparse | grep -q "^hidden states  TFM" ||
    { "$SPARQ" inspect "$TMP/deberta-q" --plan --kernels sparse; exit 1; }
for t in 1 2; do
    "$SPARQ" classify "$TMP/deberta-q" "$T1" "$T2" --threads $t --kernels sparse > "$TMP/deb-tfm.jsonl"
    SPARQ_NO_TFM=1 "$SPARQ" classify "$TMP/deberta-q" "$T1" "$T2" --threads $t --kernels sparse \
        > "$TMP/deb-tm.jsonl"
    $PY - "$TMP/deb-tfm.jsonl" "$TMP/deb-tm.jsonl" <<'PYEOF'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
assert len(a) == len(b) == 2
for x, y in zip(a, b):
    assert x["label"] == y["label"], (x, y)
    assert max(abs(x["scores"][k] - y["scores"][k]) for k in x["scores"]) < 1e-5, (x, y)
PYEOF
done
for fam in deberta deberta_v1; do
    for att in int8 f32; do
        "$SPARQ" classify "$TMP/$fam-q" "$T1" "$T2" --threads 2 --attention $att \
            > "$TMP/$fam-q-$att.jsonl"
    done
    $PY - "$TMP/$fam-q-int8.jsonl" "$TMP/$fam-q-f32.jsonl" <<'PYEOF'
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
assert len(a) == len(b) == 2
diffs = []
for x, y in zip(a, b):
    assert x["label"] == y["label"], (x, y)
    diffs.append(max(abs(x["scores"][k] - y["scores"][k]) for k in x["scores"]))
assert max(diffs) < 0.03 and max(diffs) > 0, diffs  # > 0: the int8 attention really ran
PYEOF
done
"$SPARQ" classify "$TMP/mpnet-p90" "$T1" "$T2" --threads 2 --kernels sparse > "$TMP/mpnet-p90-cls.jsonl"
# ALBERT's shared layers on sparse kernels: each shared layer's kernels run where it repeats.
"$SPARQ" classify "$TMP/albert-p90" "$T1" "$T2" --threads 2 --kernels sparse > "$TMP/albert-p90-cls.jsonl"
"$SPARQ" inspect "$TMP/mpnet-q" --plan > "$TMP/mpnet-q-plan.txt"
grep -q "^attention  int8 .*MPNet relative position bias added" "$TMP/mpnet-q-plan.txt" ||
    { cat "$TMP/mpnet-q-plan.txt"; exit 1; }
grep -q "^pre_classifier.weight" "$TMP/distilbert-plan.txt"
grep -q "^embeddings_project.weight  \[32x16\]" "$TMP/electra-plan.txt"

# MPNet with heads of 64 on int8 kernels (the bundled sparse int8 SST-2 model under MPNet's names,
# with a relative position bias): where AMX runs the attention, the QKV kernel writes Q and K int8
# for it (S8QK8); the bias must enter that path exactly as when the attention quantizes Q and K
# itself (SPARQ_NO_QK8=1): the same vectors bit for bit.
PYTHONPATH="$SRC/tools" $PY - "$SRC/models/sst2-default" "$TMP/mpnet-int8" <<'PYEOF'
import json, os, shutil, sys
import numpy as np
import bert_reference as ref
src, dst = sys.argv[1:3]
os.makedirs(dst)
shutil.copy(f"{src}/vocab.txt", dst)
shutil.copy(f"{src}/tokenizer_config.json", dst)
w, dt, meta = ref.read_safetensors(f"{src}/model.safetensors")
ren = [("attention.self.query.", "attention.attn.q."), ("attention.self.key.", "attention.attn.k."),
       ("attention.self.value.", "attention.attn.v."), ("attention.output.dense.", "attention.attn.o."),
       ("attention.output.LayerNorm.", "attention.LayerNorm.")]
out, dtypes = {}, {}
for k, v in w.items():
    if "token_type" in k:
        continue
    if k.startswith("classifier."):  # BERT's pooler + classifier = MPNet's classification head
        n = "classifier.out_proj." + k[len("classifier."):]
    elif k.startswith("bert.pooler.dense."):
        n = "classifier.dense." + k[len("bert.pooler.dense."):]
    else:
        n = "mpnet." + k[len("bert."):]
        for a, b in ren:
            n = n.replace(a, b)
    if n.endswith("position_embeddings.weight"):
        v = np.concatenate([v[:2], v])
    out[n], dtypes[n] = v, dt[k]
heads = 4
out["mpnet.encoder.relative_attention_bias.weight"] = \
    (np.random.default_rng(9).standard_normal((32, heads)) * 0.7).astype(np.float32)
ref.write_safetensors(f"{dst}/model.safetensors", out, dtypes={k: v for k, v in dtypes.items() if v != "F32"})
cfg = json.load(open(f"{src}/config.json"))
for k in ("type_vocab_size", "position_embedding_type"):
    cfg.pop(k)
cfg.update(model_type="mpnet", architectures=["MPNetForSequenceClassification"], pad_token_id=1,
           max_position_embeddings=cfg["max_position_embeddings"] + 2, relative_attention_num_buckets=32)
json.dump(cfg, open(f"{dst}/config.json", "w"))
PYEOF
for th in 1 2; do  # (one thread: the S8QK8 path where AMX runs the attention)
    "$SPARQ" embed "$TMP/mpnet-int8" "$T1" "$T2" "$QN $CT $CT" --threads $th > "$TMP/mpnet-qk8.jsonl"
    SPARQ_NO_QK8=1 "$SPARQ" embed "$TMP/mpnet-int8" "$T1" "$T2" "$QN $CT $CT" --threads $th \
        > "$TMP/mpnet-noqk8.jsonl"
    cmp "$TMP/mpnet-qk8.jsonl" "$TMP/mpnet-noqk8.jsonl"
done
"$SPARQ" inspect "$TMP/mpnet-int8" --plan > "$TMP/mpnet-int8-plan.txt"
grep -q "^attention  int8 .*MPNet relative position bias added" "$TMP/mpnet-int8-plan.txt" ||
    { cat "$TMP/mpnet-int8-plan.txt"; exit 1; }

Q="$FX/tiny_distilbert_qa"
"$SPARQ" tokenize "$Q" "$QN" --pair "$CT" > "$TMP/qtok.jsonl"
"$SPARQ" classify "$Q" --question "$QN" --context "$CT" --threads 2 > "$TMP/qa.jsonl"
PYTHONPATH="$SRC/tools" $PY - "$FX" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
fx, tmp = sys.argv[1:3]
lines = lambda n: [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]

def run(d, toks):
    cfg = json.load(open(f"{d}/config.json"))
    w, _, _ = ref.read_safetensors(f"{d}/model.safetensors")
    n = max(len(t["ids"]) for t in toks)
    pad = lambda s: s + [0] * (n - len(s))
    return ref.forward(cfg, w, [pad(t["ids"]) for t in toks],
                       [pad([1] * len(t["ids"])) for t in toks], [pad(t["type_ids"]) for t in toks])

for fam, model, res in (("distilbert", f"{fx}/tiny_distilbert_cls", "distilbert-cls"),
                        ("electra", f"{fx}/tiny_electra_cls", "electra-cls"),
                        ("mpnet", f"{fx}/tiny_mpnet_cls", "mpnet-cls"),
                        ("xlmr", f"{fx}/tiny_xlmr_cls", "xlmr-cls"),
                        ("deberta", f"{fx}/tiny_deberta_cls", "deberta-cls"),
                        ("deberta_v1", f"{fx}/tiny_deberta_v1_cls", "deberta_v1-cls"),
                        ("deberta_v1", f"{tmp}/deberta_v1-p90", "deberta_v1-p90-cls"),
                        ("deberta_v1", f"{tmp}/deberta_v1-norel", "deberta_v1-norel-cls"),
                        ("deberta", f"{tmp}/deberta-ownpos", "deberta-ownpos-cls"),
                        ("albert", f"{fx}/tiny_albert_cls", "albert-cls"),
                        ("mpnet", f"{tmp}/mpnet-p90", "mpnet-p90-cls"),
                        ("albert", f"{tmp}/albert-p90", "albert-p90-cls")):
    toks = lines(f"{fam}-tok")
    out = run(model, toks)
    id2label = json.load(open(f"{model}/config.json")).get("id2label", {"0": "negative", "1": "positive"})
    labels = [id2label[str(i)] for i in range(len(id2label))]
    for k, c in enumerate(lines(res)):
        logits = out["logits"][k]
        p = np.exp(logits - logits.max()); p /= p.sum()
        assert c["label"] == labels[int(np.argmax(p))], (fam, c, p)
        for lab, s in c["scores"].items():
            assert abs(s - p[labels.index(lab)]) < 1e-4, (fam, c, p)
qt = lines("qtok")[0]
assert 1 in qt["type_ids"], qt                      # a pair: the context has type 1
o = run(f"{fx}/tiny_distilbert_qa", [qt])
st, en = o["start_logits"][0], o["end_logits"][0]
a = lines("qa")[0]
ctx = [i for i, t in enumerate(qt["type_ids"]) if t == 1][:-1]   # context tokens without [SEP]
assert a["start"] in ctx and a["end"] in ctx and a["start"] <= a["end"], (a, ctx)
best = max(st[i] + en[j] for i in ctx for j in ctx if i <= j < i + 15)
assert abs(a["score"] - best) < 1e-4, (a["score"], best)
print("distilbert / electra / mpnet / xlm-r / deberta (v2, v1) / albert classify, distilbert qa: match the reference")
PYEOF
echo "distilbert / electra / mpnet / xlm-r / deberta (v2, v1) / albert prune, inspect, quantize: ok"
