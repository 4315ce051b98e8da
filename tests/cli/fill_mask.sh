#!/usr/bin/env bash
# sparq fill-mask on a BertForMaskedLM checkpoint (tiny_mlm, decoder tied to the word embeddings):
# the top tokens and probabilities at each [MASK] equal the softmax of the PyTorch reference's
# logits on the ids sparq tokenizes, "sequence" is the text with the token put in; a model
# without the head, or a text without a mask, is a one-line error.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_mlm"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
T1="she thought the old [MASK] was [MASK] ."
T2="the [MASK] was great !"
"$SPARQ" tokenize "$M" "$T1" "$T2" > "$TMP/tok.jsonl"
"$SPARQ" fill-mask "$M" "$T1" "$T2" --top-k 4 --threads 2 > "$TMP/fill.jsonl"
PYTHONPATH="$SRC/tools" $PY - "$M" "$TMP" <<'PYEOF'
import json, sys
import numpy as np
import bert_reference as ref
m, tmp = sys.argv[1:3]
cfg = json.load(open(m + "/config.json"))
w, _, _ = ref.read_safetensors(m + "/model.safetensors")
vocab = ref.load_vocab(m + "/vocab.txt")
inv = {i: t for t, i in vocab.items()}
toks = [json.loads(l) for l in open(tmp + "/tok.jsonl")]
fills = [json.loads(l) for l in open(tmp + "/fill.jsonl")]
n_masks = 0
for t, f in zip(toks, fills):
    ids = t["ids"]
    o = ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["mlm_logits"][0]
    masks = [p for p, i in enumerate(ids) if i == vocab["[MASK]"]]
    assert [x["position"] for x in f["masks"]] == masks, (f, masks)
    for mk in f["masks"]:
        l = o[mk["position"]]
        p = np.exp(l - l.max()); p /= p.sum()
        want = list(np.argsort(-l, kind="stable")[:4])
        got = [x["token"] for x in mk["predictions"]]
        assert got == want, (got, want)
        for x in mk["predictions"]:
            assert abs(x["score"] - p[x["token"]]) < 1e-5, (x, p[x["token"]])
            assert x["token_str"] == inv[x["token"]]
        n_masks += 1
assert n_masks == 3
top = fills[1]["masks"][0]["predictions"][0]
assert top["sequence"] == "the " + top["token_str"] + " was great!", top
print("fill-mask: matches the reference")
PYEOF
# RoBERTa's, MPNet's and XLM-R's lm_head.*, ELECTRA's generator_predictions / generator_lm_head
# (embedding_size wide, the decoder tied to the narrower word embeddings) and DistilBERT's vocab_transform / vocab_layer_norm /
# vocab_projector: the
# tiny fixtures with a masked-LM head added under those names (seeded values); reference: the
# families' encoders in tools/bert_reference.py, then dense, GELU, LayerNorm (the config's eps),
# tied decoder + bias.
PYTHONPATH="$SRC/tools" $PY - "$SRC/tests/fixtures" "$TMP" <<'PYEOF'
import json, os, shutil, sys
import numpy as np
import bert_reference as ref
fx, tmp = sys.argv[1:3]
rng = np.random.default_rng(5)
# DeBERTa's original checkpoints: lm_predictions.lm_head.{dense, LayerNorm, bias} (HF's legacy false).
DEBERTA_MLM = ("lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm", "lm_predictions.lm_head.bias")
for fam, src, names in (("roberta", "tiny_roberta", ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias")),
                        ("distilbert", "tiny_distilbert", ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias")),
                        ("mpnet", "tiny_mpnet", ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias")),
                        ("xlmr", "tiny_xlmr", ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias")),
                        ("electra", "tiny_electra", ("generator_predictions.dense", "generator_predictions.LayerNorm",
                                                     "generator_lm_head.bias")),
                        ("deberta", "tiny_deberta", DEBERTA_MLM), ("deberta_v1", "tiny_deberta_v1", DEBERTA_MLM)):
    d = f"{tmp}/{fam}_mlm"
    shutil.copytree(f"{fx}/{src}", d)
    cfg = json.load(open(d + "/config.json"))
    cfg["architectures"] = [{"roberta": "RobertaForMaskedLM", "distilbert": "DistilBertForMaskedLM",
                             "mpnet": "MPNetForMaskedLM", "xlmr": "XLMRobertaForMaskedLM",
                             "electra": "ElectraForMaskedLM", "deberta": "DebertaV2ForMaskedLM",
                             "deberta_v1": "DebertaForMaskedLM"}[fam]]
    json.dump(cfg, open(d + "/config.json", "w"))
    w, _, _ = ref.read_safetensors(d + "/model.safetensors")
    h, v = 32, cfg["vocab_size"]
    e = cfg.get("embedding_size", h)  # ELECTRA's generator head is embedding_size wide
    pre = "roberta." if fam == "xlmr" else "deberta." if fam.startswith("deberta") else fam + "."
    w = {(pre + k): x for k, x in w.items()}  # the *ForMaskedLM prefix
    w[names[0] + ".weight"] = (rng.standard_normal((e, h)) * 0.15).astype(np.float32)
    w[names[0] + ".bias"] = (rng.standard_normal(e) * 0.05).astype(np.float32)
    w[names[1] + ".weight"] = (1 + rng.standard_normal(e) * 0.05).astype(np.float32)
    w[names[1] + ".bias"] = (rng.standard_normal(e) * 0.02).astype(np.float32)
    w[names[2]] = (rng.standard_normal(v) * 0.05).astype(np.float32)
    ref.write_safetensors(d + "/model.safetensors", w)
PYEOF
for fam in roberta distilbert mpnet xlmr electra deberta deberta_v1; do
  text=$($PY -c 'import sys; print({"roberta": "hello <mask> world", "distilbert": "the [MASK] was great !",
                                    "mpnet": "the <mask> was great !", "xlmr": "the <mask> was great !",
                                    "electra": "the [MASK] was great !", "deberta": "the [MASK] was great !",
                                    "deberta_v1": "the [MASK] was great!"}[sys.argv[1]])' "$fam")
  "$SPARQ" tokenize "$TMP/${fam}_mlm" "$text" > "$TMP/${fam}_tok.jsonl"
  "$SPARQ" fill-mask "$TMP/${fam}_mlm" "$text" --top-k 3 > "$TMP/${fam}_fill.jsonl"
done
PYTHONPATH="$SRC/tools" $PY - "$TMP" <<'PYEOF'
import json, sys
import numpy as np, torch
import bert_reference as ref
tmp = sys.argv[1]
DEBERTA_MLM = ("lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm", "lm_predictions.lm_head.bias")
for fam in ("roberta", "distilbert", "mpnet", "xlmr", "electra", "deberta", "deberta_v1"):
    d = f"{tmp}/{fam}_mlm"
    cfg = json.load(open(d + "/config.json"))
    w, _, _ = ref.read_safetensors(d + "/model.safetensors")
    names = {"roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
             "mpnet": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
             "xlmr": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
             "electra": ("generator_predictions.dense", "generator_predictions.LayerNorm", "generator_lm_head.bias"),
             "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias"),
             "deberta": DEBERTA_MLM, "deberta_v1": DEBERTA_MLM}[fam]
    ids = json.loads(open(f"{tmp}/{fam}_tok.jsonl").readline())["ids"]
    x = torch.from_numpy(ref.forward(cfg, w, [ids], [[1] * len(ids)], [[0] * len(ids)])["last_hidden_state"][0])
    T = lambda k: torch.from_numpy(w[k]).double()
    t = ref._gelu_erf(x @ T(names[0] + ".weight").t() + T(names[0] + ".bias"))
    eps = float(cfg.get("layer_norm_eps", 1e-12)) if fam != "distilbert" else 1e-12
    t = ref._layer_norm(t, T(names[1] + ".weight"), T(names[1] + ".bias"), eps)
    pre = "roberta." if fam == "xlmr" else "deberta." if fam.startswith("deberta") else fam + "."
    logits = (t @ T(pre + "embeddings.word_embeddings.weight").t() + T(names[2])).numpy()
    f = json.loads(open(f"{tmp}/{fam}_fill.jsonl").readline())
    assert len(f["masks"]) == 1, f
    mk = f["masks"][0]
    l = logits[mk["position"]]
    p = np.exp(l - l.max()); p /= p.sum()
    assert [x["token"] for x in mk["predictions"]] == list(np.argsort(-l, kind="stable")[:3]), (fam, mk)
    for x in mk["predictions"]:
        assert abs(x["score"] - p[x["token"]]) < 1e-5, (fam, x, p[x["token"]])
print("fill-mask roberta / distilbert / mpnet / xlm-r / electra-generator / deberta (v2, v1 lm_predictions) heads: match")
PYEOF

if "$SPARQ" fill-mask "$SRC/tests/fixtures/tiny_base" "$T2" > /dev/null 2> "$TMP/err"; then exit 1; fi
grep -q "^sparq: error: fill-mask: the model has no masked-LM head" "$TMP/err"
if "$SPARQ" fill-mask "$M" "no mask here" > /dev/null 2> "$TMP/err"; then exit 1; fi
grep -q "^sparq: error: text 1 has no mask token (\[MASK\])" "$TMP/err"
echo "fill-mask errors: ok"
