#!/usr/bin/python3
"""Builds the tiny seeded BERT checkpoints and their PyTorch reference outputs in tests/fixtures/.

Run from anywhere:  /usr/bin/python3 tools/make_fixtures.py  [--out DIR] [--check-peers]
Deterministic: the same numpy/torch versions always produce byte-identical files.
See tests/fixtures/README.md for what is written.
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as ref  # noqa: E402

HIDDEN, LAYERS, HEADS, INTER, MAX_POS, TYPE_VOCAB = 32, 2, 4, 64, 128, 2

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,!?'-:;()\"")
WORDS = """the a an and or but not no is was are were be been it this that these those i you he
she we they me him her us them my your his its our their of to in on at by for with from as
about into over after before under between through during up down out off again then once here
there when where why how what who whom which all any both each few more most other some such
only own same so than too very can will just do does did done have has had having would should
could may might must movie film book story play show music song game team city country world
house home school work day night year time man woman child people friend family life love hate
good bad great best worst better worse new old young long short big small high low first last
right left next early late happy sad funny boring beautiful terrible wonderful awful nice fine
like liked likes loved enjoyed think thought know knew see saw watch watched read wrote written
write say said go went come came make made take took give gave find found tell told ask asked
feel felt seem seemed leave left call called keep kept let begin began help talk turn start
run move live believe bring happen stand lose pay meet include continue set learn change lead
understand speak allow add spend grow open walk win offer remember consider appear buy wait
serve die send expect build stay fall cut reach kill remain suggest raise pass sell require
report decide pull paris london berlin john mary alice bob google apple microsoft famous writer
actor director question answer yes well really also even still never always often""".split()
SUFFIXES = ["##s", "##es", "##ed", "##ing", "##ly", "##er", "##est", "##ness", "##ment", "##able"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
DIGITS = [str(d) for d in range(10)]


def build_vocab():
    vocab = SPECIALS + PUNCT + DIGITS + LETTERS + ["##" + c for c in LETTERS + DIGITS]
    seen = set(vocab)
    for w in WORDS + SUFFIXES:
        if w not in seen:
            vocab.append(w)
            seen.add(w)
    return vocab


def base_config(vocab_size, arch, **extra):
    cfg = {
        "architectures": [arch],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": MAX_POS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.35.2",
        "type_vocab_size": TYPE_VOCAB,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    cfg.update(extra)
    return cfg


def make_weights(rng, cfg, prefix, pooler, head):
    """Seeded weights with realistic scales. Query/key and intermediate matrices are larger so
    attention is far from uniform and GELU is in its non-linear range; ~1% of every linear
    weight is an outlier (x4) so kernel errors show."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    e = cfg.get("embedding_size", h)
    w = {}

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def linear(name, out_f, in_f, lo, hi):
        m = normal((out_f, in_f), rng.uniform(lo, hi))
        outl = rng.random(m.shape) < 0.01
        m[outl] *= 4.0
        w[name + ".weight"] = m
        w[name + ".bias"] = normal((out_f,), 0.05)

    def ln(name, n=h):
        w[name + ".weight"] = (1.0 + rng.standard_normal(n) * 0.05).astype(np.float32)
        w[name + ".bias"] = normal((n,), 0.02)

    p = prefix
    w[p + "embeddings.word_embeddings.weight"] = normal((cfg["vocab_size"], e), 0.05)
    w[p + "embeddings.position_embeddings.weight"] = normal((cfg["max_position_embeddings"], e), 0.03)
    w[p + "embeddings.token_type_embeddings.weight"] = normal((cfg["type_vocab_size"], e), 0.03)
    ln(p + "embeddings.LayerNorm", e)
    if e != h:  # ELECTRA's embeddings_project
        linear(p + "embeddings_project", h, e, 0.15, 0.30)
    for i in range(cfg["num_hidden_layers"]):
        lp = f"{p}encoder.layer.{i}."
        linear(lp + "attention.self.query", h, h, 0.10, 0.25)
        linear(lp + "attention.self.key", h, h, 0.10, 0.25)
        linear(lp + "attention.self.value", h, h, 0.02, 0.05)
        linear(lp + "attention.output.dense", h, h, 0.02, 0.05)
        ln(lp + "attention.output.LayerNorm")
        linear(lp + "intermediate.dense", inter, h, 0.10, 0.20)
        linear(lp + "output.dense", h, inter, 0.02, 0.05)
        ln(lp + "output.LayerNorm")
    if pooler:
        linear(p + "pooler.dense", h, h, 0.10, 0.20)
    if head == "classifier":
        linear("classifier", cfg["num_labels"], h, 0.15, 0.25)
    elif head in ("roberta_classifier", "electra_classifier"):  # dense + tanh/gelu + out_proj
        linear("classifier.dense", h, h, 0.10, 0.20)
        linear("classifier.out_proj", cfg["num_labels"], h, 0.15, 0.25)
    elif head == "qa":
        linear("qa_outputs", 2, h, 0.15, 0.25)
    elif head == "mlm":  # BertOnlyMLMHead; the decoder is tied to the word embeddings (not stored)
        linear("cls.predictions.transform.dense", h, h, 0.10, 0.20)
        ln("cls.predictions.transform.LayerNorm")
        w["cls.predictions.bias"] = normal((cfg["vocab_size"],), 0.05)
    return w


ENCODER_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense")


def prune_by_magnitude(weights, sparsity):
    """Zeroes the smallest |w| of every encoder linear weight matrix (per matrix)."""
    out = dict(weights)
    stats = {}
    for name, m in weights.items():
        if ".encoder.layer." not in "." + name or not name.endswith(".weight"):
            continue
        if not any(name.endswith(s + ".weight") for s in ENCODER_LINEARS):
            continue
        k = int(round(m.size * sparsity))
        order = np.argsort(np.abs(m), axis=None, kind="stable")
        pruned = m.copy().reshape(-1)
        pruned[order[:k]] = 0.0
        out[name] = pruned.reshape(m.shape)
        stats[name] = float(k) / m.size
    return out, stats


QA_BATCH = [("the movie was great !", None),
            ("i did not like this film at all , it was really boring and too long .", None),
            ("who wrote the book ?", "the book was written by a famous writer in london .")]
PAIR_CASE = ("pair", ("where did alice live ?",
                      "alice lived in paris for ten years before she moved to berlin ."))


def make_cases(vocab, rng, cfg):
    """(a) a padded batch of 3 sequences (one a pair) and (b) single sequences: length 1
    ([CLS] only), [CLS] [SEP], a sentence, a pair, and MAX_POS random ids."""
    batch_texts = QA_BATCH
    encs = [ref.encode(t, vocab, p) for t, p in batch_texts]
    seq = max(len(e[1]) for e in encs)
    ids = [e[1] + [0] * (seq - len(e[1])) for e in encs]
    mask = [[1] * len(e[1]) + [0] * (seq - len(e[1])) for e in encs]
    tt = [e[2] + [0] * (seq - len(e[1])) for e in encs]
    cases = [{
        "name": "batch3_padded",
        "texts": [[t, p] for t, p in batch_texts],
        "tokens": [e[0] for e in encs],
        "input_ids": ids, "attention_mask": mask, "token_type_ids": tt,
    }]

    def single(name, toks, ids1, types1, text=None):
        c = {"name": name}
        if text is not None:
            c["texts"] = [list(text)]
        c["tokens"] = [toks]
        c.update({"input_ids": [ids1], "attention_mask": [[1] * len(ids1)],
                  "token_type_ids": [types1]})
        cases.append(c)

    single("len1_cls", ["[CLS]"], [vocab["[CLS]"]], [0])
    single("len2_empty", ["[CLS]", "[SEP]"], [vocab["[CLS]"], vocab["[SEP]"]], [0, 0], ("", None))
    t = ("she thought the old city was wonderful , but the people were unfriendly .", None)
    single("sentence", *ref.encode(t[0], vocab), text=t)
    t = PAIR_CASE[1]
    single("pair", *ref.encode(t[0], vocab, t[1]), text=t)
    n = cfg["max_position_embeddings"]
    rids = rng.integers(len(SPECIALS), cfg["vocab_size"], size=n).tolist()
    rids[0], rids[-1], rids[n // 2] = vocab["[CLS]"], vocab["[SEP]"], vocab["[SEP]"]
    inv = {i: tok for tok, i in vocab.items()}
    types = [0] * (n // 2 + 1) + [1] * (n - n // 2 - 1)
    single(f"len{n}_random", [inv[i] for i in rids], rids, types)
    return cases


# RoBERTa's specials (ids 0-4 of its vocab.json); DeBERTa v1's are DEBERTA_V1_BPE_SPECIALS.
ROBERTA_BPE_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def write_bpe_tokenizer(d, vocab_size, specials=ROBERTA_BPE_SPECIALS):
    """A byte-level BPE tokenizer for a fixture of `vocab_size` ids (learn_bpe): vocab.json +
    merges.txt, as roberta-base / deberta-base ship them; returns (vocab, merges)."""
    vocab, merges = learn_bpe(vocab_size, specials)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab, merges


def learn_bpe(vocab_size, specials=ROBERTA_BPE_SPECIALS):
    """A byte-level BPE vocabulary of `vocab_size` ids: the `specials` = 0-4 (RoBERTa's
    <s> <pad> </s> <unk> <mask> by default), the 256 byte symbols, then merges learned greedily from
    the fixture words (most frequent pair first) until the ids run out; returns (vocab, merges)."""
    import re
    b2u = ref.bytes_to_unicode()
    vocab = {t: i for i, t in enumerate(specials)}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    corpus = " ".join(WORDS) + " The movie was great! I did not like this film at all, it was boring."
    pre = re.findall(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+", corpus)
    words = [[b2u[b] for b in w.encode()] for w in pre]
    merges = []
    while len(vocab) < vocab_size:
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        vocab[best[0] + best[1]] = len(vocab)
        out = []
        for w in words:
            m, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    m.append(w[i] + w[i + 1])
                    i += 2
                else:
                    m.append(w[i])
                    i += 1
            out.append(m)
        words = out
    assert sorted(vocab.values()) == list(range(len(vocab))), "a merge made an existing token"
    return vocab, merges


def roberta_case(c):
    """A BERT-encoded case as RoBERTa ids: [CLS] -> <s> (0), [SEP] -> </s> (2), [UNK] -> <unk>
    (3), padding -> <pad> (1) (the fixture vocab keeps the BERT specials' slots 0-4 for RoBERTa's
    <s> <pad> </s> <unk> <mask>), one token type."""
    remap = {2: 0, 3: 2, 1: 3}
    c = dict(c)
    c["input_ids"] = [[(remap.get(i, i) if m else 1) for i, m in zip(row, mrow)]
                      for row, mrow in zip(c["input_ids"], c["attention_mask"])]
    c["token_type_ids"] = [[0] * len(row) for row in c["token_type_ids"]]
    names = {"[CLS]": "<s>", "[SEP]": "</s>", "[UNK]": "<unk>"}
    c["tokens"] = [[names.get(t, t) for t in row] for row in c["tokens"]]
    return c


def f32_list(a):
    """Nested lists of the values rounded to float32, written as the shortest decimal that
    reads back as that float32 (reading through double may differ by 1 ulp: use a tolerance)."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 0:
        return float(str(a))
    return [f32_list(x) for x in a] if a.ndim > 1 else [float(str(x)) for x in a]


def probes(weights, dtypes, names, rng):
    """A few values of some tensors exactly as sparq must read them (after F16/BF16 -> f32)."""
    out = []
    for name in names:
        m = weights[name].reshape(-1)
        idx = sorted(set([0, 1, 2, m.size - 1] + rng.integers(0, m.size, size=6).tolist()))
        out.append({"tensor": name, "dtype": dtypes.get(name, "F32"), "shape": list(weights[name].shape),
                    "flat_index": idx, "values": [float(np.float32(m[i])) for i in idx]})
    return out


ROBERTA = {"model_type": "roberta", "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
           "type_vocab_size": 1, "max_position_embeddings": MAX_POS + 2, "layer_norm_eps": 1e-5}

MODELS = [
    # name, architecture, prefix, pooler, head, seed, storage dtype, extra config
    ("tiny_base", "BertModel", "", True, None, 11, "F32", {}),
    ("tiny_cls", "BertForSequenceClassification", "bert.", True, "classifier", 12, "F32",
     {"id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
      "problem_type": "single_label_classification"}),
    ("tiny_tok", "BertForTokenClassification", "bert.", False, "classifier", 13, "F32",
     {"id2label": {"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"},
      "label2id": {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4},
      "layer_norm_eps": 1e-5}),
    ("tiny_qa", "BertForQuestionAnswering", "bert.", False, "qa", 14, "F32", {}),
    ("tiny_f16", "BertForSequenceClassification", "bert.", True, "classifier", 12, "F16",
     {"id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
      "torch_dtype": "float16"}),
    ("tiny_bf16", "BertModel", "", True, None, 11, "BF16", {"torch_dtype": "bfloat16"}),
    ("tiny_sparse", "BertForSequenceClassification", "bert.", True, "classifier", 12, "F32",
     {"id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1}}),
    # RoBERTa: positions from pad + 1, one token type, LayerNorm eps 1e-5, <s>/<pad>/</s>/<unk> = 0..3;
    # the classification head reads <s> through dense + tanh + out_proj (no pooler).
    ("tiny_roberta", "RobertaModel", "", True, None, 15, "F32", ROBERTA),
    ("tiny_roberta_cls", "RobertaForSequenceClassification", "roberta.", False, "roberta_classifier", 16,
     "F32", dict(ROBERTA, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})),
    ("tiny_roberta_qa", "RobertaForQuestionAnswering", "roberta.", False, "qa", 17, "F32", ROBERTA),
]
SPARSITY = 0.9

# DistilBERT: its own config keys and tensor names, no token types, pre_classifier + ReLU head.
DISTIL = {"model_type": "distilbert"}
DISTIL_LAYER = [("attention.self.query", "attention.q_lin"), ("attention.self.key", "attention.k_lin"),
                ("attention.self.value", "attention.v_lin"), ("attention.output.dense", "attention.out_lin"),
                ("attention.output.LayerNorm", "sa_layer_norm"), ("intermediate.dense", "ffn.lin1"),
                ("output.dense", "ffn.lin2"), ("output.LayerNorm", "output_layer_norm")]
# ELECTRA: BERT's names under "electra.", embedding tables narrower than hidden (embedding_size
# 16 -> embeddings_project), classification head dense + GELU + out_proj.
ELECTRA = {"model_type": "electra", "embedding_size": 16, "summary_type": "first",
           "summary_use_proj": True, "summary_activation": "gelu", "summary_last_dropout": 0.1}
MODELS += [
    # BertForMaskedLM: the masked-LM head (tied decoder); its cases' logits are kept at [MASK] only.
    ("tiny_mlm", "BertForMaskedLM", "bert.", False, "mlm", 23, "F32", {}),
    ("tiny_electra", "ElectraModel", "", False, None, 21, "F32", ELECTRA),
    ("tiny_electra_cls", "ElectraForSequenceClassification", "electra.", False, "electra_classifier", 22,
     "F32", dict(ELECTRA, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})),
    ("tiny_distilbert", "DistilBertModel", "", False, None, 18, "F32", DISTIL),
    ("tiny_distilbert_cls", "DistilBertForSequenceClassification", "distilbert.", False, "distil_classifier",
     19, "F32", dict(DISTIL, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})),
    ("tiny_distilbert_qa", "DistilBertForQuestionAnswering", "distilbert.", False, "qa", 20, "F32", DISTIL),
]


# MPNet: RoBERTa's positions and specials around BERT's WordPiece vocabulary (<s> <pad> </s> <unk>
# first, <mask> last, as in microsoft/mpnet-base), no token types, attention.attn.{q,k,v,o} names
# and a relative position bias table shared by the layers. tiny_mpnet carries a tokenizer.json
# (TemplateProcessing "<s> $A </s> </s> $B </s>"), tiny_mpnet_cls only vocab.txt + an
# MPNetTokenizer tokenizer_config.json.
MPNET = {"model_type": "mpnet", "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
         "max_position_embeddings": MAX_POS + 2, "layer_norm_eps": 1e-5,
         "relative_attention_num_buckets": 32}
MPNET_LAYER = [("attention.self.query", "attention.attn.q"), ("attention.self.key", "attention.attn.k"),
               ("attention.self.value", "attention.attn.v"), ("attention.output.dense", "attention.attn.o"),
               ("attention.output.LayerNorm", "attention.LayerNorm")]
MODELS += [
    ("tiny_mpnet", "MPNetModel", "", True, None, 24, "F32", MPNET),
    ("tiny_mpnet_cls", "MPNetForSequenceClassification", "mpnet.", False, "roberta_classifier", 25, "F32",
     dict(MPNET, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})),
]


# XLM-R: RoBERTa's architecture (model_type xlm-roberta, "roberta." prefix) with a SentencePiece
# Unigram vocabulary trained here (python3-sentencepiece, one thread: deterministic) on sentences
# of the fixture words and some non-ASCII ones, stored as sentencepiece.bpe.model; ids as
# XLMRobertaTokenizer (fairseq specials 0..3, piece i at i + 1, <mask> last).
XLMR = dict(ROBERTA, model_type="xlm-roberta")
XLMR_EXTRA = ("café naïve über straße Zürich français español niño 東京 日本語 ｆｕｌｌｗｉｄｔｈ ① Ⅻ ﬁ "
              "🙂 München São Paulo").split()
MODELS += [
    ("tiny_xlmr", "XLMRobertaModel", "", True, None, 26, "F32", XLMR),
    ("tiny_xlmr_cls", "XLMRobertaForSequenceClassification", "roberta.", False, "roberta_classifier", 27,
     "F32", dict(XLMR, id2label={"0": "negative", "1": "positive"}, label2id={"negative": 0, "positive": 1})),
]
# Texts the XLM-R tokenizer is checked on (ids and pieces from the sentencepiece library): NFKC
# folds (fullwidth, ligature, circled digit), accents, CJK, an emoji, unknown upper-case letters,
# runs of spaces, tabs and newlines, and <mask> between words.
XLMR_TOKENIZER_TEXTS = ["the movie was great !", "Hello  café über  Straße 🙂 ① ﬁ naïve",
                        "ｆｕｌｌｗｉｄｔｈ 東京 日本語\tMünchen\nSão Paulo", "  leading and trailing  ",
                        "the <mask> was great", "Ⅻ niño , español ; français ?", ""]


def train_spm(sents=None, **specials):
    """A 400-piece Unigram SentencePiece model (nmt_nfkc, one thread: deterministic) trained on
    `sents`, by default 3000 sentences of the fixture words and XLMR_EXTRA; `specials`: the
    trainer's special-piece options (ids and pieces, control / user-defined symbols)."""
    import io
    import random
    import sentencepiece as spm
    if sents is None:
        rng = random.Random(0)
        sents = [" ".join(rng.choice(WORDS + XLMR_EXTRA) for _ in range(rng.randint(3, 12))) +
                 rng.choice([" .", " !", " ?", ","]) for _ in range(3000)]
    f = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sents), model_writer=f, model_type="unigram",
                                   vocab_size=400, character_coverage=1.0, num_threads=1,
                                   normalization_rule_name="nmt_nfkc", minloglevel=2, hard_vocab_limit=False,
                                   **specials)
    return f.getvalue()


def xlmr_spm_model():
    return train_spm(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)


def xlmr_encode(sp, text, pair=None):
    """XLMRobertaTokenizer: <s> a </s> (</s> b </s>), pieces at id + 1, unknown -> <unk> (3)."""
    def ids(t):
        out = []
        chunks = t.split("<mask>")
        for k, chunk in enumerate(chunks):
            if k > 0:
                out.append(sp.get_piece_size() + 1)  # <mask>
            if k + 1 < len(chunks):
                chunk = chunk.rstrip()  # <mask> takes the spaces before it (lstrip)
            out += [3 if i == sp.unk_id() else i + 1 for i in sp.encode(chunk)]
        return out
    a = [0] + ids(text) + [2]
    return a + ([2] + ids(pair) + [2] if pair is not None else [])


def xlmr_cases(sp, vocab, rng, cfg):
    """make_cases' texts (and a non-ASCII sentence) through the SentencePiece model."""
    return padded_cases(lambda text, pair=None: xlmr_encode(sp, text, pair), vocab, rng, cfg, [
        ("sentence", ("Hello  café über  Straße 🙂 ① ﬁ naïve", None)), PAIR_CASE])


# DeBERTa-v2 / v3 (model_type deberta-v2): disentangled attention over relative position embeddings
# shared by the layers, names attention.self.{query,key,value}_proj, a SentencePiece vocabulary
# (spm.model) with DeBERTa-v3's specials [PAD] [CLS] [SEP] [UNK] = 0..3 and [MASK] added after the
# pieces. tiny_deberta has v3's options (no absolute positions, no token types, log buckets:
# position_buckets 8 -> distances beyond 4 share buckets, relative embeddings LayerNorm'ed);
# tiny_deberta_cls the other branches (absolute positions, 2 token types, no buckets but
# max_relative_positions 16 -> distances clamped at 16, raw relative embeddings, pos_att_type
# as an old "p2c|c2p" string) and DebertaV2ForSequenceClassification's ContextPooler + classifier
# with MNLI's labels.
DEBERTA_POS = 64  # max_position_embeddings; the random case fills all of it
DEBERTA_V3 = {"model_type": "deberta-v2", "max_position_embeddings": DEBERTA_POS, "type_vocab_size": 0,
              "position_biased_input": False, "relative_attention": True, "position_buckets": 8,
              "max_relative_positions": -1, "pos_att_type": ["p2c", "c2p"], "norm_rel_ebd": "layer_norm",
              "share_att_key": True}
# DeBERTa's sequence classifiers (v2 and v1): the ContextPooler's settings and MNLI's labels.
DEBERTA_MNLI_HEAD = {"pooler_hidden_size": HIDDEN, "pooler_hidden_act": "gelu", "pooler_dropout": 0,
                     "id2label": {"0": "contradiction", "1": "neutral", "2": "entailment"},
                     "label2id": {"contradiction": 0, "neutral": 1, "entailment": 2}}
DEBERTA_V2_CLS = {"model_type": "deberta-v2", "max_position_embeddings": DEBERTA_POS, "type_vocab_size": 2,
                  "position_biased_input": True, "relative_attention": True, "position_buckets": -1,
                  "max_relative_positions": 16, "pos_att_type": "p2c|c2p", "norm_rel_ebd": "none",
                  "share_att_key": True, **DEBERTA_MNLI_HEAD}
MODELS += [
    ("tiny_deberta", "DebertaV2Model", "", False, None, 28, "F32", DEBERTA_V3),
    ("tiny_deberta_cls", "DebertaV2ForSequenceClassification", "deberta.", False, "classifier", 29, "F32",
     DEBERTA_V2_CLS),
    # The per-token heads on DeBERTa's encoder: question answering with v3's options (pair type ids
    # only steer the span search), token classification with the v2 ones (token types embedded).
    ("tiny_deberta_qa", "DebertaV2ForQuestionAnswering", "deberta.", False, "qa", 31, "F32", DEBERTA_V3),
    ("tiny_deberta_tok", "DebertaV2ForTokenClassification", "deberta.", False, "classifier", 32, "F32",
     dict({k: v for k, v in DEBERTA_V2_CLS.items() if not k.startswith("pooler")},
          id2label={"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"},
          label2id={"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4})),
]
DEBERTA_TOKENIZER_CONFIG = {"bos_token": "[CLS]", "cls_token": "[CLS]", "do_lower_case": False,
                            "eos_token": "[SEP]", "mask_token": "[MASK]", "model_max_length": 512,
                            "pad_token": "[PAD]", "sep_token": "[SEP]", "split_by_punct": False,
                            "tokenizer_class": "DebertaV2Tokenizer", "unk_token": "[UNK]", "vocab_type": "spm"}
DEBERTA_LONG = ("long", ("i did not like this film at all , it was really boring and too long . she "
                         "thought the old city was wonderful , but the people were unfriendly . john "
                         "and mary went to paris after the show .", None))
# Premise / hypothesis pairs as a zero-shot classifier builds them (hypotheses from a template like
# HF's default "This example is {}.").
NLI_BATCH = [("the movie was great !", "This example is about music."),
             ("the movie was great !", "This example is about a film."),
             ("alice lived in paris for ten years before she moved to berlin .", "This example is about a city.")]
# Texts the DeBERTa tokenizer is checked on ((text, pair); ids, pieces, type ids and offsets from
# the sentencepiece library and DebertaV2Tokenizer's rules): XLM-R's texts, special tokens written
# in the text ([MASK], [SEP], [UNK]), runs of unknown characters, and pairs.
DEBERTA_TOKENIZER_TEXTS = [(t.replace("<mask>", "[MASK]"), None) for t in XLMR_TOKENIZER_TEXTS] + [
    ("first part [SEP] second [UNK] part", None), ("HHH the QQ xyz", None), ("[MASK]", None),
    ("who wrote the book ?", "the book was written by a famous writer in london ."),
    ("the movie was great !", "This example is about music."), ("", "")]


def deberta_spm_model():
    return train_spm(pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]",
                     unk_id=3, unk_piece="[UNK]")


def deberta_config(vocab_size, arch, **extra):
    cfg = {"architectures": [arch], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
           "hidden_dropout_prob": 0.1, "hidden_size": HIDDEN, "initializer_range": 0.02,
           "intermediate_size": INTER, "layer_norm_eps": 1e-7, "model_type": "deberta-v2",
           "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "pad_token_id": 0,
           "torch_dtype": "float32", "transformers_version": "4.35.2", "vocab_size": vocab_size}
    cfg.update(extra)
    return cfg


DEBERTA_LAYER = [("attention.self.query.", "attention.self.query_proj."),
                 ("attention.self.key.", "attention.self.key_proj."),
                 ("attention.self.value.", "attention.self.value_proj.")]


def deberta_weights(rng, cfg, prefix, head):
    """make_weights' BERT-named output -> DeBERTa-v2 names: {query,key,value}_proj, no absolute
    positions / token types unless the config has them, the ContextPooler at the top level
    (pooler.dense, not under deberta.), plus encoder.rel_embeddings [2 att_span, H] (std 1: as
    large as the LayerNorm'ed content, so the c2p / p2c terms move the attention) and
    encoder.LayerNorm when norm_rel_ebd has layer_norm."""
    st = ref.deberta_settings(cfg)
    gen = dict(cfg, type_vocab_size=max(1, st["type_vocab_size"]), num_labels=num_labels_of(cfg))
    out = {}
    pooled = head == "classifier" and cfg["architectures"][0].endswith("SequenceClassification")
    for k, v in make_weights(rng, gen, prefix, pooled, head).items():
        if k.endswith("embeddings.position_embeddings.weight") and not st["position_biased_input"]:
            continue
        if k.endswith("embeddings.token_type_embeddings.weight") and st["type_vocab_size"] == 0:
            continue
        for a, b in DEBERTA_LAYER:
            k = k.replace(a, b)
        if k.startswith(prefix + "pooler."):
            k = k[len(prefix):]
        out[k] = v
    out[prefix + "encoder.rel_embeddings.weight"] = \
        rng.standard_normal((2 * st["att_span"], cfg["hidden_size"])).astype(np.float32)
    if "layer_norm" in st["norm_rel_ebd"]:
        out[prefix + "encoder.LayerNorm.weight"] = \
            (1.0 + rng.standard_normal(cfg["hidden_size"]) * 0.05).astype(np.float32)
        out[prefix + "encoder.LayerNorm.bias"] = (rng.standard_normal(cfg["hidden_size"]) * 0.02).astype(np.float32)
    return out


def deberta_cases(sp, vocab, rng, cfg):
    """The XLM-R cases' texts, a long sentence (63 tokens) alone and padded with shorter ones,
    zero-shot style pairs, and a random pair of all DEBERTA_POS positions, as DebertaV2Tokenizer
    encodes them ([CLS] a [SEP] b [SEP], type ids 0 / 1, padded with [PAD] = 0)."""
    def enc(text, pair=None):
        _, ids, types, _ = ref.deberta_encode(sp, text, pair)
        return ids, types

    return padded_cases(enc, vocab, rng, cfg, [
        ("len2_empty", ("", None)), ("sentence", ("Hello  café über  Straße 🙂 ① ﬁ naïve", None)), PAIR_CASE,
        DEBERTA_LONG], batches=[("batch3_long_padded", [DEBERTA_LONG[1], QA_BATCH[0], PAIR_CASE[1]]),
                                ("nli_padded", NLI_BATCH)],
        cls=vocab["[CLS]"], pad=vocab["[PAD]"], sep=vocab["[SEP]"], n=cfg["max_position_embeddings"],
        pair_random=True)


def deberta_naive_bucket(r, bucket_size, max_position):
    """make_log_bucket_position for one distance, in Python (double) arithmetic."""
    import math
    mid = bucket_size // 2
    a = mid - 1 if -mid < r < mid else abs(r)
    if a <= mid:
        return r
    return int(math.copysign(math.ceil(math.log(a / mid) / math.log((max_position - 1) / mid) * (mid - 1)) + mid,
                             r))


def deberta_bucket_tables(first=-600, last=600):
    """HF's bucket of every relative distance first..last for DeBERTa-v3's (256, 512) and
    tiny_deberta's (8, 64); the float32 torch values agree with double arithmetic everywhere."""
    tables = []
    for bs, mp in ((256, 512), (8, 64)):
        b = ref.deberta_log_bucket(torch.arange(first, last + 1), bs, mp).tolist()
        assert b == [deberta_naive_bucket(r, bs, mp) for r in range(first, last + 1)], (bs, mp)
        tables.append({"bucket_size": bs, "max_position": mp, "first_distance": first, "buckets": b})
    return tables


def check_deberta_scores(cfg, seed, seq=70, heads=2, d=8):
    """Self-check of the reference's c2p / p2c gathers: a naive loop over (head, query, key) on
    random tensors, seq positions (past the log buckets and the clamp of both fixtures)."""
    st = ref.deberta_settings(cfg)
    span = st["att_span"]
    g = np.random.default_rng(seed)
    q, k = g.standard_normal((1, heads, seq, d)), g.standard_normal((1, heads, seq, d))
    pq, pk = g.standard_normal((heads, 2 * span, d)), g.standard_normal((heads, 2 * span, d))
    got = ref.deberta_disentangled_scores(*(torch.from_numpy(a) for a in (q, k, pq, pk)),
                                          ref.deberta_relative_positions(seq, cfg), span, st["pos_att_type"],
                                          3.0).numpy()

    def bucket(r):
        if st["position_buckets"] > 0:
            return deberta_naive_bucket(r, st["position_buckets"], st["max_relative_positions"])
        return r

    def clamp(x):
        return min(max(x, 0), 2 * span - 1)

    want = np.zeros_like(got)
    for h in range(heads):
        for i in range(seq):
            for j in range(seq):
                c2p = sum(q[0, h, i, t] * pk[h, clamp(bucket(i - j) + span), t] for t in range(d))
                p2c = sum(k[0, h, j, t] * pq[h, clamp(-bucket(j - i) + span), t] for t in range(d))
                want[0, h, i, j] = (c2p + p2c) / 3.0
    assert np.abs(got - want).max() < 1e-12, np.abs(got - want).max()


# DeBERTa v1 (model_type deberta, modeling_deberta.py): disentangled attention with a fused
# attention.self.in_proj [3H, H] (no bias; each head's q, k, v rows together), q_bias / v_bias,
# pos_proj (c2p, no bias) / pos_q_proj (p2c) of raw relative embeddings (no LayerNorm, no buckets,
# centred slice of the dynamic span min(S, max_relative_positions)). Cases: make_cases' BERT
# WordPiece ids unchanged — the byte-level BPE vocab.json of these directories has [PAD] [UNK]
# [CLS] [SEP] [MASK] at 0-4, the BERT fixture vocabulary's ids, so no remap (RoBERTa needs one) —
# checked by ids, not through the tokenizer; the tokenizer has its own tokenizer_cases.
# tiny_deberta_v1 has microsoft/deberta-base's options (no absolute positions, no token types,
# "c2p|p2c" as a string) with max_relative_positions 8, below most case lengths: the clamp and the
# dynamic span; tiny_deberta_v1_cls the other branches (absolute positions, max_relative_positions
# -1 -> max_position_embeddings, pos_att_type a list) and the ContextPooler + MNLI classifier.
DEBERTA_V1_BPE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4, as SPECIALS
DEBERTA_V1 = {"model_type": "deberta", "max_position_embeddings": MAX_POS, "type_vocab_size": 0,
              "position_biased_input": False, "relative_attention": True, "max_relative_positions": 8,
              "pos_att_type": "c2p|p2c"}
DEBERTA_V1_CLS = {"model_type": "deberta", "max_position_embeddings": MAX_POS, "type_vocab_size": 0,
                  "position_biased_input": True, "relative_attention": True, "max_relative_positions": -1,
                  "pos_att_type": ["p2c", "c2p"], **DEBERTA_MNLI_HEAD}
MODELS += [
    ("tiny_deberta_v1", "DebertaModel", "", False, None, 37, "F32", DEBERTA_V1),
    ("tiny_deberta_v1_cls", "DebertaForSequenceClassification", "deberta.", False, "classifier", 38, "F32",
     DEBERTA_V1_CLS),
]
# microsoft/deberta-base's tokenizer_config.json (DebertaTokenizer over vocab.json + merges.txt).
DEBERTA_V1_TOKENIZER_CONFIG = {"tokenizer_class": "DebertaTokenizer", "bos_token": "[CLS]", "eos_token": "[SEP]",
                               "unk_token": "[UNK]", "sep_token": "[SEP]", "cls_token": "[CLS]", "pad_token": "[PAD]",
                               "mask_token": "[MASK]", "do_lower_case": False, "model_max_length": 512}
# Texts the DeBERTa v1 tokenizer is checked on ((text, pair); ASCII): punctuation, capitals, a
# contraction, digits, runs of spaces and words outside the merges ("Zyx", "qwv"), a pair, and
# " [MASK]" (lstrip: the space before it is dropped; the one after it stays with "Ġwas").
DEBERTA_V1_TOKENIZER_TEXTS = [
    ("The movie was great! Zyx's  film, qwv?", None),
    ("I did not like it -- 42 days (really)...", None),
    ("who wrote the book?", "The book was written by a famous writer in London."),
    ("The capital of France is [MASK]. The [MASK] was great!", None),
]


def deberta_v1_fuse_qkv(wq, wk, wv, heads):
    """in_proj.weight [3H, H] of three [H, H] projections: head n's q rows, then its k rows, then
    its v rows (transpose_for_scores of the [B, S, 3H] product, then chunk(3))."""
    h = wq.shape[0]
    d = h // heads
    per_head = [m.reshape(heads, d, h) for m in (wq, wk, wv)]
    return np.concatenate(per_head, axis=1).reshape(3 * h, h)


def deberta_v1_weights(rng, cfg, prefix, head):
    """deberta_weights' draws (under v2 names, with its optional tables and the ContextPooler)
    -> DeBERTa v1 names: query_proj / key_proj / value_proj fused into attention.self.in_proj
    (key bias dropped), q_bias / v_bias the query / value biases; then, per layer, pos_proj [H, H]
    (no bias) and pos_q_proj [H, H] + bias with the query / key scales. encoder.rel_embeddings
    [2 max_relative_positions, H] (std 1) as v2's."""
    w = deberta_weights(rng, cfg, prefix, head)
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    st = ref.deberta_v1_settings(cfg)
    for i in range(cfg["num_hidden_layers"]):
        a = f"{prefix}encoder.layer.{i}.attention.self."
        wq, wk, wv = (w.pop(a + n + "_proj.weight") for n in ("query", "key", "value"))
        bq, _, bv = (w.pop(a + n + "_proj.bias") for n in ("query", "key", "value"))
        w[a + "in_proj.weight"] = deberta_v1_fuse_qkv(wq, wk, wv, heads)
        w[a + "q_bias"], w[a + "v_bias"] = bq, bv
    for i in range(cfg["num_hidden_layers"]):
        a = f"{prefix}encoder.layer.{i}.attention.self."
        for name, bias, wanted in (("pos_proj", False, "c2p"), ("pos_q_proj", True, "p2c")):
            m = (rng.standard_normal((h, h)) * rng.uniform(0.10, 0.25)).astype(np.float32)
            m[rng.random(m.shape) < 0.01] *= 4.0
            b = (rng.standard_normal(h) * 0.05).astype(np.float32)
            if wanted in st["pos_att_type"]:
                w[a + name + ".weight"] = m
                if bias:
                    w[a + name + ".bias"] = b
    assert w[prefix + "encoder.rel_embeddings.weight"].shape == (2 * st["max_relative_positions"], h)
    return w


def deberta_v1_as_v2(cfg, weights, heads):
    """A DeBERTa v1 checkpoint as the deberta-v2 one that computes the same function (for the
    self-check): in_proj split back per head into query_proj / key_proj / value_proj (key bias 0,
    q_bias / v_bias the others), pos_key_proj = pos_proj (bias 0), pos_query_proj = pos_q_proj,
    share_att_key false, norm_rel_ebd none, no buckets, the same max_relative_positions."""
    v2cfg = dict(cfg, model_type="deberta-v2", share_att_key=False, norm_rel_ebd="none", position_buckets=-1,
                 architectures=[cfg["architectures"][0].replace("Deberta", "DebertaV2")])
    out = {}
    for k, v in weights.items():
        if k.endswith("attention.self.in_proj.weight"):
            a = k[:-len("in_proj.weight")]
            h = v.shape[1]
            qkv = v.reshape(heads, 3, h // heads, h)
            for j, n in enumerate(("query", "key", "value")):
                out[a + n + "_proj.weight"] = qkv[:, j].reshape(h, h)
            out[a + "query_proj.bias"] = weights[a + "q_bias"]
            out[a + "key_proj.bias"] = np.zeros(h, dtype=v.dtype)
            out[a + "value_proj.bias"] = weights[a + "v_bias"]
        elif k.endswith("attention.self.pos_proj.weight"):
            a = k[:-len("pos_proj.weight")]
            out[a + "pos_key_proj.weight"] = v
            out[a + "pos_key_proj.bias"] = np.zeros(v.shape[0], dtype=v.dtype)
        elif k.endswith("attention.self.pos_q_proj.weight") or k.endswith("attention.self.pos_q_proj.bias"):
            out[k.replace("pos_q_proj", "pos_query_proj")] = v
        elif not (k.endswith("attention.self.q_bias") or k.endswith("attention.self.v_bias")):
            out[k] = v
    return v2cfg, out


def check_deberta_v1_reference(cfg, weights, cases, seed):
    """Self-check of the DeBERTa v1 reference: it equals the deberta-v2 reference run on the
    converted checkpoint (deberta_v1_as_v2) on the fixture's cases, with the fixture's
    max_relative_positions and with 5 (a fresh [10, H] relative table, std 1: every case longer
    than 5 but len1 / len2, the dynamic span below it there). Returns {check: max |d|}."""
    heads = cfg["num_attention_heads"]
    prefix = "deberta." if any(k.startswith("deberta.") for k in weights) else ""
    small = dict(weights)
    small[prefix + "encoder.rel_embeddings.weight"] = \
        np.random.default_rng(seed).standard_normal((10, cfg["hidden_size"])).astype(np.float32)
    dev = {}
    for label, c1, w1 in ((f"max_relative_positions {ref.deberta_v1_settings(cfg)['max_relative_positions']}",
                           cfg, weights), ("max_relative_positions 5", dict(cfg, max_relative_positions=5), small)):
        c2, w2 = deberta_v1_as_v2(c1, w1, heads)
        d = 0.0
        for c in cases:
            args = (c["input_ids"], c["attention_mask"], c["token_type_ids"])
            got, want = ref.forward(c1, w1, *args), ref.forward(c2, w2, *args)
            assert sorted(got) == sorted(want), (sorted(got), sorted(want))
            d = max([d] + [float(np.abs(got[k] - want[k]).max()) for k in got])
        assert d < 1e-12, (label, d)
        dev[label] = d
    return dev


def deberta_v1_tokenizer_cases(d):
    """DEBERTA_V1_TOKENIZER_TEXTS through the reference DebertaTokenizer on the directory's
    vocab.json + merges.txt: {text, pair, ids, tokens, token_type_ids}. Checked: the tokens
    byte-decode to the text (without the whitespace a [MASK] takes)."""
    vocab, ranks = ref.load_bpe(d)
    u2b = {u: b for b, u in ref.bytes_to_unicode().items()}
    out = []
    for text, pair in DEBERTA_V1_TOKENIZER_TEXTS:
        toks, ids, types = ref.deberta_v1_encode(vocab, ranks, text, pair)
        assert [vocab[t] for t in toks] == ids
        plain = [t for t in toks[1:-1] if t not in ref.DEBERTA_V1_SPECIALS or t == "[MASK]"]
        if pair is None:
            got = "".join(t if t == "[MASK]" else bytes(u2b[ch] for ch in t).decode() for t in plain)
            assert got == text.replace(" [MASK]", "[MASK]"), (got, text)
        out.append({"text": text, "pair": pair, "ids": ids, "tokens": toks, "token_type_ids": types})
    return out


# ALBERT (model_type albert): BERT's attention with factorized embeddings (embedding_size 16, mapped
# to hidden 32 by encoder.embedding_hidden_mapping_in) and layers shared across the depth:
# num_hidden_layers layer applications run num_hidden_groups groups of inner_group_num distinct
# AlbertLayers (names encoder.albert_layer_groups.{g}.albert_layers.{j}.attention.{query,key,value,
# dense,LayerNorm} / ffn / ffn_output / full_layer_layer_norm), hidden_act gelu_new (albert-*-v2's)
# or gelu; `pooler` (a Linear, not pooler.dense) + tanh. The vocabulary is spiece.model, a Unigram
# model trained here with real ALBERT's trainer options (pad 0, unk 1, no bos / eos, control
# symbols [CLS] [SEP] [MASK] at 2..4, its user-defined symbols after them, nmt_nfkc) on sentences
# normalized as AlbertTokenizer does (lower case, accents stripped, `` and '' as "), with numbers
# written with commas so that pieces ending in <digit>"," exist (AlbertTokenizer's digit-comma rule).
ALBERT_EXTRA = "Café Zoë RÉSUMÉ naïve über Zürich français español niño São Paulo München déjà".split()
ALBERT_NUMBERS = ["1,000", "1,000,000", "2,500", "3,000,", "10,000,"]
ALBERT_USER_SYMBOLS = ["(", ")", '"', "-", ".", "–", "£", "€"]  # google-research/albert's spm_train options
ALBERT = {"model_type": "albert", "embedding_size": 16, "hidden_act": "gelu_new", "num_hidden_layers": 3,
          "num_hidden_groups": 1, "inner_group_num": 1}
ALBERT_SHARED = {"model_type": "albert", "embedding_size": 16, "num_hidden_layers": 4, "num_hidden_groups": 2,
                 "inner_group_num": 2}
MODELS += [
    ("tiny_albert", "AlbertModel", "", True, None, 33, "F32", ALBERT),
    # 4 layer applications over 2 groups of 2 inner layers: 8 AlbertLayer runs, 4 weight sets.
    ("tiny_albert_cls", "AlbertForSequenceClassification", "albert.", True, "classifier", 34, "F32",
     dict(ALBERT_SHARED, hidden_act="gelu", id2label={"0": "negative", "1": "positive"},
          label2id={"negative": 0, "positive": 1})),
    ("tiny_albert_mlm", "AlbertForMaskedLM", "albert.", False, "albert_mlm", 35, "F32", ALBERT),
    ("tiny_albert_qa", "AlbertForQuestionAnswering", "albert.", False, "qa", 36, "F32",
     dict(ALBERT_SHARED, hidden_act="gelu_new")),
]
# tokenizer_config.json as AlbertTokenizer.save_pretrained writes it: the mask token is an
# AddedToken with lstrip (it takes the spaces before it), added_tokens_decoder as transformers >= 4.34.
ALBERT_TOKENIZER_CONFIG = {
    "added_tokens_decoder": {
        str(i): {"content": t, "lstrip": t == "[MASK]", "normalized": False, "rstrip": False,
                 "single_word": False, "special": True}
        for i, t in enumerate(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"])},
    "bos_token": "[CLS]", "clean_up_tokenization_spaces": True, "cls_token": "[CLS]", "do_lower_case": True,
    "eos_token": "[SEP]", "keep_accents": False,
    "mask_token": {"__type": "AddedToken", "content": "[MASK]", "lstrip": True, "normalized": False,
                   "rstrip": False, "single_word": False},
    "model_max_length": 512, "pad_token": "<pad>", "remove_space": True, "sep_token": "[SEP]",
    "sp_model_kwargs": {}, "tokenizer_class": "AlbertTokenizer", "unk_token": "<unk>"}
ALBERT_LONG = ("long", ("I did not like this film at all, it was really boring and too long. She thought the "
                        "old city was WONDERFUL, but the people were unfriendly. John and Mary went to Paris "
                        "after the show; the tickets cost 2,500 euros. Alice lived in Paris for ten years "
                        "before she moved to Berlin, and Bob said ``the music was great''. Who wrote the book? "
                        "A famous writer in London, in 1,000 days", None))  # 127 tokens
ALBERT_SENTENCE = ("sentence", ("Zoë's café in München charged 1,000,000 dollars, or 9,5 euros (a RÉSUMÉ!)", None))
# Texts the ALBERT tokenizer is checked on ((text, pair)): a plain sentence, upper case and
# accents, `` '' quotes, the digit-comma rule (its three branches: "▁9," -> "▁" "9" ","; "10,000,"
# after a quote -> "1" "0" "," "0" "0" "0" ","; "3,000," -> "3," (not a piece: <unk>) "0" "0" "0" ","),
# runs of spaces / tabs / newlines, [MASK] after a space, at the start and before punctuation,
# the other specials written in the text (and "<UNK>" / "[Mask]": lower-cased before the split),
# unknown characters (CJK, an emoji), a pair and empty texts.
ALBERT_TOKENIZER_TEXTS = [
    ("the movie was great !", None), ("Café Zoë RÉSUMÉ", None),
    ("He said ``hello'' and ''bye'', then \"ok\".", None),
    ("It costs 1,000,000 dollars, or 9,5 euros", None),
    ('"10,000, (3,000,) or 2,500,"', None),
    ("   leading  and\ttrailing \n spaces   ", None),
    ("the capital is [MASK] .", None), ("[MASK] was great, [MASK]!", None),
    ("first [SEP] second <unk> third <pad> x <UNK> [Mask]", None),
    ("東京 日本語 🙂 the ß", None),
    ("who wrote the book ?", "the book was written by a famous writer in london ."),
    ("", None), ("", ""),
]
ALBERT_MLM_TEXTS = ["The [MASK] was great!", "She thought the old [MASK] was [MASK]."]


def albert_sentences(n=3000):
    """The training sentences of spiece.model: the fixture words, ALBERT_EXTRA, ALBERT_NUMBERS and
    decimal-comma numbers (d,d), some quoted ("..." or ``...''), parenthesized or followed by a
    comma, normalized as AlbertTokenizer.preprocess_text does."""
    import random
    rng = random.Random(0)
    p = 0.03

    def word():
        r = rng.random()
        if r < p:
            return rng.choice(ALBERT_NUMBERS)
        if r < 2 * p:
            return f"{rng.randint(1, 9)},{rng.randint(0, 9)}"
        return rng.choice(WORDS + ALBERT_EXTRA)

    sents = []
    for _ in range(n):
        ws = [word() for _ in range(rng.randint(3, 12))]
        r, i = rng.random(), rng.randrange(len(ws))
        if r < 0.15:
            ws[i] = '"' + ws[i] + '"'
        elif r < 0.25:
            ws[i] = "``" + ws[i] + "''"
        elif r < 0.35:
            ws[i] = "(" + ws[i] + ")"
        elif r < 0.5:
            ws[i] = ws[i] + ","
        sents.append(ref.albert_preprocess(" ".join(ws) + rng.choice([" .", " !", " ?", ",", ".", " - ok"])))
    return sents


_ALBERT_SPM = []


def albert_spm_model():
    if not _ALBERT_SPM:
        _ALBERT_SPM.append(train_spm(albert_sentences(), pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                                     control_symbols=["[CLS]", "[SEP]", "[MASK]"],
                                     user_defined_symbols=ALBERT_USER_SYMBOLS))
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_proto=_ALBERT_SPM[0])
        ends = [p for p in map(sp.id_to_piece, range(sp.get_piece_size())) if p[-2:-1].isdigit() and p[-1] == ","]
        # the digit-comma rule's branches need pieces with and without the word-start "▁"
        assert any(p[0] == "▁" for p in ends) and any(p[0] != "▁" for p in ends), ends
    return _ALBERT_SPM[0]


def albert_config(vocab_size, arch, **extra):
    cfg = {"architectures": [arch], "attention_probs_dropout_prob": 0, "bos_token_id": 2,
           "classifier_dropout_prob": 0.1, "embedding_size": 16, "eos_token_id": 3, "hidden_act": "gelu_new",
           "hidden_dropout_prob": 0, "hidden_size": HIDDEN, "initializer_range": 0.02, "inner_group_num": 1,
           "intermediate_size": INTER, "layer_norm_eps": 1e-12, "max_position_embeddings": MAX_POS,
           "model_type": "albert", "num_attention_heads": HEADS, "num_hidden_groups": 1, "num_hidden_layers": 3,
           "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
           "transformers_version": "4.35.2", "type_vocab_size": TYPE_VOCAB, "vocab_size": vocab_size}
    cfg.update(extra)
    return cfg


ALBERT_LAYER = [("attention.self.query.", "attention.query."), ("attention.self.key.", "attention.key."),
                ("attention.self.value.", "attention.value."), ("attention.output.dense.", "attention.dense."),
                ("attention.output.LayerNorm.", "attention.LayerNorm."), ("intermediate.dense.", "ffn."),
                ("output.dense.", "ffn_output."), ("output.LayerNorm.", "full_layer_layer_norm.")]


def albert_names(weights, prefix, inner):
    """BERT-named weights -> ALBERT names: encoder.layer.{k} -> encoder.albert_layer_groups.
    {k // inner}.albert_layers.{k % inner} (ALBERT_LAYER renames), embeddings_project ->
    encoder.embedding_hidden_mapping_in, pooler.dense -> pooler."""
    out = {}
    for k, v in weights.items():
        n = k[len(prefix):] if k.startswith(prefix) else None
        if n is None:
            out[k] = v
            continue
        if n.startswith("encoder.layer."):
            num, rest = n[len("encoder.layer."):].split(".", 1)
            for a, b in ALBERT_LAYER:
                if rest.startswith(a):
                    rest = b + rest[len(a):]
                    break
            n = f"encoder.albert_layer_groups.{int(num) // inner}.albert_layers.{int(num) % inner}.{rest}"
        elif n.startswith("embeddings_project."):
            n = "encoder.embedding_hidden_mapping_in." + n[len("embeddings_project."):]
        elif n.startswith("pooler.dense."):
            n = "pooler." + n[len("pooler.dense."):]
        out[prefix + n] = v
    return out


def albert_weights(rng, cfg, prefix, pooler, head):
    """make_weights with num_hidden_groups * inner_group_num distinct layers under ALBERT names
    (the E -> H mapping drawn as ELECTRA's embeddings_project); AlbertForMaskedLM's head
    ("albert_mlm"): predictions.dense [E, H] (the intermediate scales), predictions.LayerNorm [E],
    predictions.bias [V] and predictions.decoder.weight, a copy of the word embeddings (tied)."""
    inner = cfg["inner_group_num"]
    gen = dict(cfg, num_hidden_layers=cfg["num_hidden_groups"] * inner, num_labels=num_labels_of(cfg))
    assert gen["embedding_size"] != gen["hidden_size"]  # make_weights draws the mapping only then
    w = albert_names(make_weights(rng, gen, prefix, pooler, None if head == "albert_mlm" else head), prefix,
                     inner)
    if head == "albert_mlm":
        e, h, v = cfg["embedding_size"], cfg["hidden_size"], cfg["vocab_size"]
        m = (rng.standard_normal((e, h)) * rng.uniform(0.10, 0.20)).astype(np.float32)
        m[rng.random(m.shape) < 0.01] *= 4.0
        w["predictions.dense.weight"] = m
        w["predictions.dense.bias"] = (rng.standard_normal(e) * 0.05).astype(np.float32)
        w["predictions.LayerNorm.weight"] = (1.0 + rng.standard_normal(e) * 0.05).astype(np.float32)
        w["predictions.LayerNorm.bias"] = (rng.standard_normal(e) * 0.02).astype(np.float32)
        w["predictions.bias"] = (rng.standard_normal(v) * 0.05).astype(np.float32)
        w["predictions.decoder.weight"] = w[prefix + "embeddings.word_embeddings.weight"].copy()
    return w


def albert_cases(sp, vocab, rng, cfg):
    """make_cases' batch, len1_cls, len2_empty, a mixed-case sentence with accents and numbers,
    the pair, a long text (ALBERT_LONG) alone and padded with shorter ones, and a random pair of
    all max_position_embeddings positions (ids 5.. : no [MASK]), as AlbertTokenizer encodes them
    ([CLS] a [SEP] b [SEP], type ids 0 / 1, padded with <pad> = 0)."""
    def enc(text, pair=None):
        _, ids, types = ref.albert_encode(sp, text, pair)
        return ids, types

    return padded_cases(enc, vocab, rng, cfg, [("len2_empty", ("", None)), ALBERT_SENTENCE, PAIR_CASE, ALBERT_LONG],
                        batches=[("batch3_long_padded", [ALBERT_LONG[1], QA_BATCH[0], PAIR_CASE[1]])],
                        cls=vocab["[CLS]"], pad=vocab["<pad>"], sep=vocab["[SEP]"], n=cfg["max_position_embeddings"],
                        pair_random=True, id_range=(5, len(vocab)))


def albert_mlm_case(sp, vocab):
    """ALBERT_MLM_TEXTS padded into one batch ("masked")."""
    encs = [ref.albert_encode(sp, t) for t in ALBERT_MLM_TEXTS]
    seq = max(len(e[1]) for e in encs)
    return [{"name": "masked", "texts": [[t, None] for t in ALBERT_MLM_TEXTS], "tokens": [e[0] for e in encs],
             "input_ids": [e[1] + [vocab["<pad>"]] * (seq - len(e[1])) for e in encs],
             "attention_mask": [[1] * len(e[1]) + [0] * (seq - len(e[1])) for e in encs],
             "token_type_ids": [[0] * seq for _ in encs]}]


def check_albert_reference(vocab_list):
    """Self-checks of the ALBERT reference (no files written), returning the max |d| of each:
    (1) an ALBERT checkpoint whose layers are all distinct groups (num_hidden_groups =
    num_hidden_layers, inner_group_num 1), embedding_size = hidden and embedding_hidden_mapping_in
    the identity, hidden_act gelu, holding BERT weights under ALBERT names reproduces
    bert_reference's BERT forward (base + pooler, sequence / token classification, QA, MLM) on
    make_cases' inputs; (2) the layer sharing: tiny_albert_cls's settings (4 layers, 2 groups x 2
    inner) and 5 layers over 2 groups (int(i / 2.5): groups 0 0 0 1 1) reproduce ELECTRA (the same
    E -> H projection after the embedding LayerNorm) with the layer applications unrolled into
    distinct encoder.layer.N; (3) _gelu_tanh against torch's gelu(approximate="tanh")."""
    vocab = {t: i for i, t in enumerate(vocab_list)}
    dev = {}
    labels = {"id2label": {"0": "negative", "1": "positive"}}
    mlm_names = [("cls.predictions.transform.dense.", "predictions.dense."),
                 ("cls.predictions.transform.LayerNorm.", "predictions.LayerNorm."),
                 ("cls.predictions.bias", "predictions.bias")]
    for bert_arch, albert_arch, pooler, head, extra in [
            ("BertModel", "AlbertModel", True, None, {}),
            ("BertForSequenceClassification", "AlbertForSequenceClassification", True, "classifier", labels),
            ("BertForTokenClassification", "AlbertForTokenClassification", False, "classifier", labels),
            ("BertForQuestionAnswering", "AlbertForQuestionAnswering", False, "qa", {}),
            ("BertForMaskedLM", "AlbertForMaskedLM", False, "mlm", {})]:
        bcfg = base_config(len(vocab_list), bert_arch, **extra)
        prefix = "" if bert_arch == "BertModel" else "bert."
        bw = make_weights(np.random.default_rng(7), dict(bcfg, num_labels=num_labels_of(extra)), prefix, pooler, head)
        aprefix = "" if bert_arch == "BertModel" else "albert."
        aw = {}
        for k, v in albert_names(bw, prefix, 1).items():
            for a, b in mlm_names:
                k = k.replace(a, b)
            aw[(aprefix + k[len(prefix):]) if prefix and k.startswith(prefix) else k] = v
        aw[aprefix + "encoder.embedding_hidden_mapping_in.weight"] = np.eye(HIDDEN, dtype=np.float32)
        aw[aprefix + "encoder.embedding_hidden_mapping_in.bias"] = np.zeros(HIDDEN, dtype=np.float32)
        acfg = albert_config(len(vocab_list), albert_arch, embedding_size=HIDDEN, num_hidden_layers=LAYERS,
                             num_hidden_groups=LAYERS, inner_group_num=1, hidden_act="gelu", **extra)
        d = 0.0
        for c in make_cases(vocab, np.random.default_rng(8), bcfg):
            args = (c["input_ids"], c["attention_mask"], c["token_type_ids"])
            want, got = ref.forward(bcfg, bw, *args), ref.forward(acfg, aw, *args)
            assert sorted(want) == sorted(got), (sorted(want), sorted(got))
            d = max([d] + [float(np.abs(want[k] - got[k]).max()) for k in want])
        dev["bert " + albert_arch] = d
    for layers, groups, inner in ((4, 2, 2), (5, 2, 1)):
        acfg = albert_config(len(vocab_list), "AlbertModel", num_hidden_layers=layers, num_hidden_groups=groups,
                             inner_group_num=inner, hidden_act="gelu")
        aw = albert_weights(np.random.default_rng(9), acfg, "", True, None)
        ecfg = base_config(len(vocab_list), "ElectraModel", model_type="electra", embedding_size=16,
                           num_hidden_layers=layers * inner)
        ew = {k: v for k, v in aw.items() if k.startswith("embeddings.")}
        ew["embeddings_project.weight"] = aw["encoder.embedding_hidden_mapping_in.weight"]
        ew["embeddings_project.bias"] = aw["encoder.embedding_hidden_mapping_in.bias"]
        ew["pooler.dense.weight"], ew["pooler.dense.bias"] = aw["pooler.weight"], aw["pooler.bias"]
        groups_run = ref.albert_layer_groups(acfg)
        assert groups_run == ([0, 0, 1, 1] if layers == 4 else [0, 0, 0, 1, 1])
        for n, (gi, j) in enumerate((gi, j) for gi in groups_run for j in range(inner)):
            src = f"encoder.albert_layer_groups.{gi}.albert_layers.{j}."
            for a, b in ALBERT_LAYER:
                for t in ("weight", "bias"):
                    ew[f"encoder.layer.{n}.{a}{t}"] = aw[src + b + t]
        d = 0.0
        for c in make_cases(vocab, np.random.default_rng(8), acfg):
            args = (c["input_ids"], c["attention_mask"], c["token_type_ids"])
            want, got = ref.forward(ecfg, ew, *args), ref.forward(acfg, aw, *args)
            assert sorted(want) == sorted(got)
            d = max([d] + [float(np.abs(want[k] - got[k]).max()) for k in want])
        dev[f"electra unrolled {layers} layers / {groups} groups x {inner}"] = d
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    dev["gelu_tanh"] = float((ref._gelu_tanh(x) - torch.nn.functional.gelu(x, approximate="tanh")).abs().max())
    for k, v in dev.items():
        assert v < 1e-12, (k, v)
    return dev


def mpnet_vocab(vocab_list):
    return ["<s>", "<pad>", "</s>", "<unk>"] + vocab_list + ["<mask>"]


def mpnet_names(weights, rng):
    """BERT-named generator output -> MPNet names (token types dropped, relative bias added)."""
    out = {}
    for k, v in weights.items():
        if k.endswith("token_type_embeddings.weight"):
            continue
        n = k
        i = n.find("encoder.layer.")
        if i >= 0:
            head, rest = n[:i + len("encoder.layer.")], n[i + len("encoder.layer."):]
            num, rest = rest.split(".", 1)
            for a, b in MPNET_LAYER:
                if rest.startswith(a + "."):
                    rest = b + rest[len(a):]
                    break
            n = f"{head}{num}.{rest}"
        out[n] = v
    prefix = "mpnet." if any(k.startswith("mpnet.") for k in weights) else ""
    # Large enough to move the attention: a wrong bucket shows in the outputs.
    out[prefix + "encoder.relative_attention_bias.weight"] = \
        (rng.standard_normal((32, HEADS)) * 0.7).astype(np.float32)
    return out


def padded_cases(encode, vocab, rng, cfg, singles, batches=(), cls=0, pad=1, sep=2, n=None, pair_random=False,
                 id_range=None):
    """Cases of a vocabulary whose specials are ids 0..3 (<mask> / [MASK] last), RoBERTa's
    (<s> <pad> </s> <unk>) unless `cls` / `pad` / `sep` say otherwise: make_cases' batch, the
    (name, (text, pair)) `singles` and the (name, [(text, pair)]) `batches`, encoded by `encode`
    ((text, pair) -> ids, type ids 0, or -> (ids, type ids)) and padded with `pad` (type 0);
    len1_cls; and a random sequence of `n` positions (default max_position_embeddings - 2),
    a pair ([SEP] in the middle, type 1 after it) if `pair_random`, its ids drawn from `id_range`
    ([lo, hi), default [4, last id))."""
    inv = {i: t for t, i in vocab.items()}

    def case(name, encs, texts=None):
        rows = [e if isinstance(e, tuple) else (e, [0] * len(e)) for e in encs]
        seq = max(len(r) for r, _ in rows)
        c = {"name": name}
        if texts is not None:
            c["texts"] = [list(t) for t in texts]
        c.update({"tokens": [[inv[i] for i in r] for r, _ in rows],
                  "input_ids": [r + [pad] * (seq - len(r)) for r, _ in rows],
                  "attention_mask": [[1] * len(r) + [0] * (seq - len(r)) for r, _ in rows],
                  "token_type_ids": [t + [0] * (seq - len(t)) for _, t in rows]})
        return c

    cases = [case("batch3_padded", [encode(*t) for t in QA_BATCH], QA_BATCH), case("len1_cls", [[cls]])]
    for name, t in singles:
        cases.append(case(name, [encode(*t)], [t]))
    for name, texts in batches:
        cases.append(case(name, [encode(*t) for t in texts], texts))
    n = n or cfg["max_position_embeddings"] - 2
    rids = rng.integers(*(id_range or (4, len(vocab) - 1)), size=n).tolist()
    rids[0], rids[-1] = cls, sep
    types = [0] * n
    if pair_random:
        rids[n // 2] = sep
        types = [0] * (n // 2 + 1) + [1] * (n - n // 2 - 1)
    cases.append(case(f"len{n}_random", [(rids, types)]))
    return cases


def mpnet_cases(vocab, rng, cfg):
    """make_cases' texts as MPNetTokenizer encodes them (<s> a </s> / <s> a </s> </s> b </s>)."""
    def enc(text, pair=None):
        toks = ["<s>"] + ref.wordpiece_tokenize(text, vocab) + ["</s>"]
        if pair is not None:
            toks += ["</s>"] + ref.wordpiece_tokenize(pair, vocab) + ["</s>"]
        return [vocab[t] for t in toks]

    return padded_cases(enc, vocab, rng, cfg, [
        ("len2_empty", ("", None)),
        ("sentence", ("she thought the old city was wonderful , but the people were unfriendly .", None)),
        PAIR_CASE])


def template_items(spec):
    """A tokenizers-library TemplateProcessing item list from "<s>:0 $A:0 </s>:0" style text."""
    items = []
    for part in spec.split():
        tok, type_id = part.rsplit(":", 1)
        key = "Sequence" if tok.startswith("$") else "SpecialToken"
        items.append({key: {"id": tok[1:] if tok.startswith("$") else tok, "type_id": int(type_id)}})
    return items


def write_wordpiece_tokenizer_json(d, vocab_list, specials, single, pair):
    """A tokenizers-library WordPiece tokenizer.json (BertNormalizer, BertPreTokenizer) with the
    TemplateProcessing templates `single` / `pair` ("<s>:0 $A:0 </s>:0" style strings)."""
    ids = {t: i for i, t in enumerate(vocab_list)}

    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": ids[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for t in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing", "single": template_items(single), "pair": template_items(pair),
                           "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]}
                                              for t in ("<s>", "</s>")}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


def distil_config(vocab_size, arch, **extra):
    cfg = {"activation": "gelu", "architectures": [arch], "attention_dropout": 0.1, "dim": HIDDEN,
           "dropout": 0.1, "hidden_dim": INTER, "initializer_range": 0.02,
           "max_position_embeddings": MAX_POS, "n_heads": HEADS, "n_layers": LAYERS,
           "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
           "sinusoidal_pos_embds": False, "tie_weights_": True, "torch_dtype": "float32",
           "transformers_version": "4.35.2", "vocab_size": vocab_size}
    cfg.update(extra)
    return cfg


def distil_names(weights, prefix):
    """BERT-named generator output -> DistilBERT names (token types dropped)."""
    out = {}
    for k, v in weights.items():
        if k.endswith("token_type_embeddings.weight"):
            continue
        n = k
        if n.startswith("encoder.layer."):
            i, rest = n[len("encoder.layer."):].split(".", 1)
            for a, b in DISTIL_LAYER:
                if rest.startswith(a + "."):
                    rest = b + rest[len(a):]
                    break
            n = f"transformer.layer.{i}.{rest}"
        out[(prefix + n) if (n.startswith("embeddings.") or n.startswith("transformer.")) else n] = v
    return out


def num_labels_of(extra):
    return len(extra.get("id2label", {"0": "LABEL_0", "1": "LABEL_1"}))


def write_reference(d, doc, name, arch, dtype, n_tensors, max_f32_dev):
    """The fixture's reference.json (compact) and its summary line."""
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{name:12s} {arch:32s} {dtype:5s} tensors={n_tensors:3d} "
          f"f32-vs-f64 max|d|={max_f32_dev:.2e} "
          f"size={sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d)) / 1024:.0f} KiB")


def build_model(out_dir, vocab_list, spec, check_peers):
    name, arch, prefix, pooler, head, seed, dtype, extra = spec
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    roberta = extra.get("model_type") == "roberta"
    distil = extra.get("model_type") == "distilbert"
    mpnet = extra.get("model_type") == "mpnet"
    xlmr = extra.get("model_type") == "xlm-roberta"
    deberta = extra.get("model_type") == "deberta-v2"
    deberta_v1 = extra.get("model_type") == "deberta"
    albert = extra.get("model_type") == "albert"
    if mpnet:
        vocab_list = mpnet_vocab(vocab_list)
    if xlmr:
        import sentencepiece as spm
        spm_model = xlmr_spm_model()
        sp = spm.SentencePieceProcessor(model_proto=spm_model)
        vocab_list = ["<s>", "<pad>", "</s>", "<unk>"] + [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())] \
            + ["<mask>"]
    if deberta:
        import sentencepiece as spm
        spm_model = deberta_spm_model()
        sp = spm.SentencePieceProcessor(model_proto=spm_model)
        vocab_list = list(ref.deberta_token_ids(sp))  # the pieces, then [MASK]
        assert vocab_list[:4] == ["[PAD]", "[CLS]", "[SEP]", "[UNK]"] and vocab_list[-1] == "[MASK]"
    if albert:  # AlbertTokenizer's ids are the SentencePiece ids
        import sentencepiece as spm
        spm_model = albert_spm_model()
        sp = spm.SentencePieceProcessor(model_proto=spm_model)
        vocab_list = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        assert vocab_list[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"] and sp.unk_id() == 1
        assert vocab_list[5:5 + len(ALBERT_USER_SYMBOLS)] == ALBERT_USER_SYMBOLS
    vocab = {t: i for i, t in enumerate(vocab_list)}
    make_cfg = distil_config if distil else deberta_config if deberta or deberta_v1 else albert_config if albert \
        else base_config
    cfg = make_cfg(len(vocab_list), arch, **extra)
    if mpnet:  # MPNet's config has neither
        del cfg["type_vocab_size"], cfg["position_embedding_type"]
    cfg = dict(sorted(cfg.items()))
    gen_cfg = dict(base_config(len(vocab_list), arch), num_labels=num_labels_of(extra)) if distil \
        else dict(cfg, num_labels=num_labels_of(extra))
    rng = np.random.default_rng(seed)
    if deberta:
        weights = deberta_weights(rng, cfg, prefix, head)
    elif deberta_v1:
        weights = deberta_v1_weights(rng, cfg, prefix, head)
    elif albert:
        weights = albert_weights(rng, cfg, prefix, pooler, head)
    elif distil:
        weights = make_weights(rng, gen_cfg, "", pooler, "classifier" if head == "distil_classifier" else head)
        if head == "distil_classifier":  # pre_classifier: the pooler's scales
            m = (rng.standard_normal((HIDDEN, HIDDEN)) * rng.uniform(0.10, 0.20)).astype(np.float32)
            weights["pre_classifier.weight"] = m
            weights["pre_classifier.bias"] = (rng.standard_normal(HIDDEN) * 0.05).astype(np.float32)
        weights = distil_names(weights, prefix)
    else:
        weights = make_weights(rng, dict(gen_cfg, type_vocab_size=1) if mpnet else gen_cfg, prefix, pooler,
                               head)
        if mpnet:
            weights = mpnet_names(weights, rng)
    meta = {"format": "pt", "generator": "sparq tools/make_fixtures.py", "seed": str(seed)}
    sparsity = None
    if name == "tiny_sparse":
        weights, sparsity = prune_by_magnitude(weights, SPARSITY)
        meta["sparsity"] = str(SPARSITY)
    dtypes = {}
    if dtype != "F32":
        for k in weights:
            dtypes[k] = dtype
            weights[k] = ref.round_to_dtype(weights[k], dtype)  # reference uses rounded values
    ref.write_safetensors(os.path.join(d, "model.safetensors"), weights, meta, dtypes)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    if roberta:  # RoBERTa directories carry a byte-level BPE tokenizer, not a WordPiece one
        write_bpe_tokenizer(d, cfg["vocab_size"])
    elif deberta_v1:  # so do DeBERTa v1's, with BERT's special ids (DebertaTokenizer)
        bpe_vocab, _ = write_bpe_tokenizer(d, cfg["vocab_size"], DEBERTA_V1_BPE_SPECIALS)
        assert all(bpe_vocab[t] == vocab[t] for t in DEBERTA_V1_BPE_SPECIALS)  # the cases' ids, no remap
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(DEBERTA_V1_TOKENIZER_CONFIG, f, indent=2)
            f.write("\n")
    elif deberta or albert:  # the SentencePiece model under the family's name + its config
        with open(os.path.join(d, "spiece.model" if albert else "spm.model"), "wb") as f:
            f.write(spm_model)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(ALBERT_TOKENIZER_CONFIG if albert else DEBERTA_TOKENIZER_CONFIG, f, indent=2)
            f.write("\n")
    elif xlmr:
        with open(os.path.join(d, "sentencepiece.bpe.model"), "wb") as f:
            f.write(spm_model)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"model_max_length": 512, "tokenizer_class": "XLMRobertaTokenizer"}, f, indent=2)
            f.write("\n")
    else:
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab_list) + "\n")
        tok_cfg = {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}
        if mpnet:
            tok_cfg = {"bos_token": "<s>", "cls_token": "<s>", "do_lower_case": True, "eos_token": "</s>",
                       "mask_token": "<mask>", "model_max_length": 512, "pad_token": "<pad>",
                       "sep_token": "</s>", "tokenizer_class": "MPNetTokenizer", "unk_token": "[UNK]"}
            if name == "tiny_mpnet":
                write_wordpiece_tokenizer_json(d, vocab_list, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                               "<s>:0 $A:0 </s>:0", "<s>:0 $A:0 </s>:0 </s>:0 $B:1 </s>:1")
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(tok_cfg, f, indent=2)
            f.write("\n")

    # Round-trip through our own reader: the reference runs on exactly what the file holds.
    loaded, loaded_dtypes, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    for k, v in weights.items():
        assert np.array_equal(loaded[k], v), k
    case_rng = np.random.default_rng(1000 + seed)
    # RoBERTa positions start at pad + 1 = 2: its longest sequence is 2 shorter than the table.
    if mpnet:
        cases = mpnet_cases(vocab, case_rng, cfg)
    elif xlmr:
        cases = xlmr_cases(sp, vocab, case_rng, cfg)
    elif deberta:
        cases = deberta_cases(sp, vocab, case_rng, cfg)
        check_deberta_scores(cfg, seed)
    elif albert:
        cases = albert_mlm_case(sp, vocab) if head == "albert_mlm" else albert_cases(sp, vocab, case_rng, cfg)
    elif deberta_v1:
        cases = make_cases(vocab, case_rng, cfg)  # BERT's ids: DEBERTA_V1_BPE_SPECIALS are at the same ids
        v1_dev = check_deberta_v1_reference(cfg, loaded, cases, seed)
    else:
        cases = make_cases(vocab, case_rng, dict(cfg, max_position_embeddings=cfg["max_position_embeddings"] - 2)
                           if roberta else cfg)
    if roberta:
        cases = [roberta_case(c) for c in cases]
        # A <pad> id inside a sequence (attention mask 1): Hugging Face gives it position pad and
        # does not count it, so the tokens after it keep their positions.
        ids = [0, 7, 1, 9, 1, 11, 2]
        cases.append({"name": "inner_pad", "tokens": [["<s>", "?", "<pad>", "?", "<pad>", "?", "</s>"]],
                      "input_ids": [ids], "attention_mask": [[1] * len(ids)], "token_type_ids": [[0] * len(ids)]})
    if head == "mlm":  # two sentences with [MASK] tokens, padded into one batch
        texts = ["the [MASK] was great !", "she thought the old [MASK] was [MASK] ."]
        encs = []
        for t in texts:
            toks = ["[CLS]"] + [x for w in t.split() for x in (["[MASK]"] if w == "[MASK]" else ref.wordpiece_tokenize(w, vocab))] + ["[SEP]"]
            encs.append((toks, [vocab[x] for x in toks]))
        seq = max(len(e[1]) for e in encs)
        cases = [{"name": "masked", "texts": [[t, None] for t in texts], "tokens": [e[0] for e in encs],
                  "input_ids": [e[1] + [0] * (seq - len(e[1])) for e in encs],
                  "attention_mask": [[1] * len(e[1]) + [0] * (seq - len(e[1])) for e in encs],
                  "token_type_ids": [[0] * seq for _ in encs]}]
    max_f32_dev = 0.0
    for c in cases:
        outs = ref.forward(cfg, loaded, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        outs32 = ref.forward(cfg, loaded, c["input_ids"], c["attention_mask"], c["token_type_ids"],
                             dtype=torch.float32)
        for k, v in outs.items():
            dev = np.abs(outs32[k].astype(np.float64) - v)
            mask = np.asarray(c["attention_mask"], dtype=bool)
            if k in ("last_hidden_state", "logits", "start_logits", "end_logits") and v.ndim >= 2 \
                    and v.shape[:2] == mask.shape:
                dev = dev[mask]
            if k == "mlm_logits":  # [MASK] positions only: {"sequence", "position", "logits"}
                ids = np.asarray(c["input_ids"])
                c[k] = [{"sequence": int(b), "position": int(p), "logits": f32_list(v[b, p])}
                        for b, p in zip(*np.nonzero(ids == vocab["[MASK]"]))]
                max_f32_dev = max(max_f32_dev, float(dev[ids == vocab["[MASK]"]].max()))
                continue
            max_f32_dev = max(max_f32_dev, float(dev.max()))
            c[k] = f32_list(v)
        if check_peers and name == "tiny_base":
            check_against_peers(cfg, loaded, c, outs)
    probe_names = [prefix + "embeddings.word_embeddings.weight",
                   prefix + "encoder.layer.1.attention.self.query.weight",
                   prefix + "encoder.layer.0.intermediate.dense.bias",
                   prefix + "encoder.layer.1.output.LayerNorm.weight"]
    if distil:
        probe_names = [prefix + "embeddings.word_embeddings.weight",
                       prefix + "transformer.layer.1.attention.q_lin.weight",
                       prefix + "transformer.layer.0.ffn.lin1.bias",
                       prefix + "transformer.layer.1.output_layer_norm.weight"]
    if mpnet:
        probe_names = [prefix + "embeddings.word_embeddings.weight",
                       prefix + "encoder.layer.1.attention.attn.q.weight",
                       prefix + "encoder.layer.0.intermediate.dense.bias",
                       prefix + "encoder.relative_attention_bias.weight"]
    if deberta:
        probe_names = [prefix + "embeddings.word_embeddings.weight",
                       prefix + "encoder.layer.1.attention.self.query_proj.weight",
                       prefix + "encoder.layer.0.intermediate.dense.bias",
                       prefix + "encoder.rel_embeddings.weight"]
        if "pooler.dense.weight" in loaded:  # sequence classifiers' ContextPooler
            probe_names.append("pooler.dense.weight")
    if deberta_v1:
        probe_names = [prefix + "embeddings.word_embeddings.weight",
                       prefix + "encoder.layer.1.attention.self.in_proj.weight",
                       prefix + "encoder.layer.0.attention.self.q_bias",
                       prefix + "encoder.layer.1.attention.self.pos_q_proj.weight",
                       prefix + "encoder.layer.0.intermediate.dense.bias",
                       prefix + "encoder.rel_embeddings.weight"]
        if "pooler.dense.weight" in loaded:  # sequence classifiers' ContextPooler
            probe_names.append("pooler.dense.weight")
    if albert:
        last = f"encoder.albert_layer_groups.{cfg['num_hidden_groups'] - 1}.albert_layers.{cfg['inner_group_num'] - 1}."
        probe_names = [prefix + "embeddings.word_embeddings.weight",
                       prefix + "encoder.embedding_hidden_mapping_in.weight",
                       prefix + "encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight",
                       prefix + last + "ffn.bias", prefix + last + "full_layer_layer_norm.weight"]
        if pooler:
            probe_names.append(prefix + "pooler.weight")
        if head == "albert_mlm":
            probe_names += ["predictions.dense.weight", "predictions.bias"]
    if head in ("classifier", "distil_classifier"):
        probe_names.append("classifier.weight")
    if head == "qa":
        probe_names.append("qa_outputs.weight")
    doc = {
        "model": name,
        "architecture": arch,
        "weights_dtype": dtype,
        "computed_in": "float64 (stored rounded to float32)",
        "max_abs_dev_torch_float32": max_f32_dev,
        "outputs_note": "last_hidden_state/logits/start_logits/end_logits are [B][S](...) for "
                        "every position incl. padding; only positions with attention_mask 1 are "
                        "meaningful",
        "probes": probes(loaded, loaded_dtypes, probe_names, np.random.default_rng(seed + 7)),
        "cases": cases,
    }
    if xlmr:
        doc["tokenizer_cases"] = [{"text": t, "ids": xlmr_encode(sp, t),
                                   "pieces": [vocab_list[i] for i in xlmr_encode(sp, t)]}
                                  for t in XLMR_TOKENIZER_TEXTS]
    if albert and head is None:
        doc["tokenizer_cases"] = albert_tokenizer_cases(sp, vocab_list)
    if deberta_v1:
        doc["tokenizer_cases"] = deberta_v1_tokenizer_cases(d)
    if deberta:
        doc["tokenizer_cases"] = []
        for t, pair in DEBERTA_TOKENIZER_TEXTS:
            toks, ids, types, offsets = ref.deberta_encode(sp, t, pair)
            assert [vocab_list[i] for i in ids] == toks
            doc["tokenizer_cases"].append({"text": t, "pair": pair, "ids": ids, "pieces": toks,
                                           "token_type_ids": types, "offsets": offsets})
        if name == "tiny_deberta":
            # Hugging Face's bucket of every relative distance (query - key) -600..600 for
            # DeBERTa-v3's (256, 512) and this fixture's (8, 64).
            doc["deberta_buckets"] = deberta_bucket_tables()
    if mpnet:
        # Hugging Face's bucket of every relative distance -300..300 (sparq's table is checked
        # against it beyond the distances the cases reach).
        r = torch.arange(-300, 301)
        doc["relative_position_buckets"] = {"first_distance": -300,
                                            "buckets": ref.mpnet_relative_position_bucket(r).tolist()}
    if sparsity:
        doc["sparsity"] = {k: round(v, 6) for k, v in sorted(sparsity.items())}
    write_reference(d, doc, name, arch, dtype, len(weights), max_f32_dev)
    if deberta_v1:
        print("  DeBERTa v1 reference = v2 reference on the converted weights, max|d|: " +
              ", ".join(f"{k} {v:.1e}" for k, v in v1_dev.items()))


def albert_tokenizer_cases(sp, vocab_list):
    """ALBERT_TOKENIZER_TEXTS through the reference AlbertTokenizer: {text, pair, ids, pieces,
    token_type_ids}; pieces are the tokens (the surface of an unknown run, not "<unk>")."""
    out = []
    for t, pair in ALBERT_TOKENIZER_TEXTS:
        toks, ids, types = ref.albert_encode(sp, t, pair)
        assert all(vocab_list[i] == p or i == sp.unk_id() for p, i in zip(toks, ids))
        out.append({"text": t, "pair": pair, "ids": ids, "pieces": toks, "token_type_ids": types})
    return out


def check_against_peers(cfg, weights, case, outs):
    """Compares with the shared peers harness model (a second, nn.Module based implementation)."""
    peers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tools",
                         "peers")
    sys.path.insert(0, os.path.abspath(peers))
    import bertlib  # noqa: E402
    m = bertlib.BertModel(cfg).double()
    m.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in weights.items()},
                      strict=True)
    m.eval()
    with torch.no_grad():
        ids = torch.tensor(case["input_ids"])
        am = torch.tensor(case["attention_mask"])
        tt = torch.tensor(case["token_type_ids"])
        h = m(ids, am, tt)
        pooled = m.pooler(h)
    mask = np.asarray(case["attention_mask"], dtype=bool)
    d1 = np.abs(h.numpy() - outs["last_hidden_state"])[mask].max()
    d2 = np.abs(pooled.numpy() - outs["pooler_output"]).max()
    print(f"  peers bertlib vs reference [{case['name']}]: hidden max|d|={d1:.2e} pooler max|d|={d2:.2e}")
    assert d1 < 1e-9 and d2 < 1e-9


def write_dtype_fixture(out):
    """dtypes.safetensors: one small tensor per dtype sparq reads (written by the python writer,
    with the HF layout for mixed dtypes) + dtypes.json with the values sparq must read."""
    t = {
        "f64": np.array([[0.1, -2.5], [1e10, 3.0]], dtype=np.float64),
        "f32": np.array([1.0, -0.0, 3.4e38, 1e-40, 0.3], dtype=np.float32),
        "f16": np.array([1.0, -2.0, 65504.0, 2.0 ** -24, 0.1, -0.0], dtype=np.float32),
        "bf16": np.array([1.0, -5.0, 3.14159, 1e-20, 0.1], dtype=np.float32),
        "i64": np.array([-1, 2 ** 40, 0], dtype=np.int64),
        "i32": np.array([[-7, 2 ** 31 - 1]], dtype=np.int32),
        "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "u8": np.array([0, 255, 7], dtype=np.uint8),
        "mask": np.array([True, False, True], dtype=np.bool_),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    dtypes = {"f16": "F16", "bf16": "BF16"}
    path = os.path.join(out, "dtypes.safetensors")
    ref.write_safetensors(path, t, {"format": "pt", "note": "one tensor per dtype"}, dtypes)
    loaded, loaded_dt, _ = ref.read_safetensors(path)
    doc = {}
    for name, arr in loaded.items():
        vals = arr.reshape(-1)
        if loaded_dt[name] in ("F64", "F32", "F16", "BF16"):
            vals = [float(np.float32(v)) for v in vals]  # as f32, exact
        else:
            vals = [int(v) for v in vals]
        doc[name] = {"dtype": loaded_dt[name], "shape": list(arr.shape), "values": vals}
    with open(os.path.join(out, "dtypes.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


# ModernBERT (model_type modernbert, modeling_modernbert.py, eager attention): pre-norm layers with a
# fused attn.Wqkv, rotary position embeddings (no position table, no token types), alternating
# global / sliding-window local attention, GeGLU MLP (mlp.Wi [2I, H] = input and gate halves),
# final_norm; names under "model." in the task models. The tokenizer is the DeBERTa v1 fixtures'
# byte-level BPE (learn_bpe with [PAD] [UNK] [CLS] [SEP] [MASK] at 0-4) shipped as one
# tokenizer.json, as ModernBERT ships its own. tiny_modernbert: ModernBertForMaskedLM with
# answerdotai/ModernBERT-base's switches (no biases anywhere but decoder.bias, theta 160000 / 10000);
# tiny_modernbert_cls: ModernBertForSequenceClassification with the other branches (every bias,
# local_rope_theta null -> the global theta, mean pooling over the real tokens);
# tiny_modernbert_tok: ModernBertForTokenClassification with settings between the two (3 layers,
# only layer 0 global, a narrow window of +-3, both thetas, norm / mlp / classifier biases but no
# attention bias), the head and classifier on every token; tiny_modernbert_qa:
# ModernBertForQuestionAnswering (the token classifier's computation with 2 columns, start and
# end logits) with attention biases, no norm biases, every second layer global, a window of +-2.
MODERNBERT_SPECIALS = DEBERTA_V1_BPE_SPECIALS  # [PAD] [UNK] [CLS] [SEP] [MASK] = 0..4
MODERNBERT = {"model_type": "modernbert", "intermediate_size": 48, "num_hidden_layers": 3,
              "global_attn_every_n_layers": 2, "local_attention": 8, "global_rope_theta": 160000.0,
              "local_rope_theta": 10000.0, "norm_bias": False, "attention_bias": False, "mlp_bias": False,
              "classifier_bias": False, "decoder_bias": True, "classifier_pooling": "mean",
              "tie_word_embeddings": True}
MODERNBERT_CLS = {"model_type": "modernbert", "intermediate_size": 48, "num_hidden_layers": 4,
                  "global_attn_every_n_layers": 3, "local_attention": 16, "global_rope_theta": 160000.0,
                  "local_rope_theta": None, "norm_bias": True, "attention_bias": True, "mlp_bias": True,
                  "classifier_bias": True, "decoder_bias": True, "classifier_pooling": "mean",
                  "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1}}
MODERNBERT_TOK = {"model_type": "modernbert", "intermediate_size": 48, "num_hidden_layers": 3,
                  "global_attn_every_n_layers": 3, "local_attention": 6, "global_rope_theta": 160000.0,
                  "local_rope_theta": 10000.0, "norm_bias": True, "attention_bias": False, "mlp_bias": True,
                  "classifier_bias": True, "decoder_bias": True, "classifier_pooling": "mean",
                  "id2label": {"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"},
                  "label2id": {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4}}
MODERNBERT_QA = {"model_type": "modernbert", "intermediate_size": 48, "num_hidden_layers": 3,
                 "global_attn_every_n_layers": 2, "local_attention": 4, "global_rope_theta": 160000.0,
                 "local_rope_theta": 10000.0, "norm_bias": False, "attention_bias": True, "mlp_bias": False,
                 "classifier_bias": True, "decoder_bias": True, "classifier_pooling": "cls"}
MODERNBERT_MODELS = [
    # name, architecture, seed, config
    ("tiny_modernbert", "ModernBertForMaskedLM", 41, MODERNBERT),
    ("tiny_modernbert_cls", "ModernBertForSequenceClassification", 42, MODERNBERT_CLS),
    ("tiny_modernbert_tok", "ModernBertForTokenClassification", 43, MODERNBERT_TOK),
    ("tiny_modernbert_qa", "ModernBertForQuestionAnswering", 44, MODERNBERT_QA),
]
MODERNBERT_SENTENCE = ("sentence", ("She thought the old city was wonderful, but the people were unfriendly.", None))
MODERNBERT_LONG = ("long", ("I did not like this film at all, it was really boring and too long. John and Mary "
                            "went to Paris after the show.", None))  # 58 tokens
MODERNBERT_MLM_TEXTS = ["The [MASK] was great!", "She thought the old [MASK] was [MASK]."]
# Texts the tokenizer is checked on: DeBERTa v1's (punctuation, capitals, a contraction, digits, a
# double space, words outside the merges, a pair, " [MASK]" twice), special tokens written in the
# text, and tabs / newlines / leading and trailing spaces.
MODERNBERT_TOKENIZER_TEXTS = DEBERTA_V1_TOKENIZER_TEXTS + [
    ("first part [SEP] second [UNK] part[PAD]", None),
    ("  Hello\tworld\n new  lines  ", None),
]


def modernbert_config(vocab_size, arch, **extra):
    cfg = {"architectures": [arch], "attention_dropout": 0.0, "bos_token_id": 2, "classifier_activation": "gelu",
           "classifier_dropout": 0.0, "cls_token_id": 2, "embedding_dropout": 0.0, "eos_token_id": 3,
           "hidden_activation": "gelu", "hidden_size": HIDDEN, "initializer_cutoff_factor": 2.0,
           "initializer_range": 0.02, "max_position_embeddings": MAX_POS, "mlp_dropout": 0.0,
           "model_type": "modernbert", "norm_eps": 1e-5, "num_attention_heads": HEADS, "pad_token_id": 0,
           "sep_token_id": 3, "torch_dtype": "float32", "transformers_version": "4.48.0",
           "vocab_size": vocab_size}
    cfg.update(extra)
    return cfg


def modernbert_weights(rng, cfg, arch):
    """make_weights' scales under ModernBERT's names: Wqkv = [q; k; v] with q / k drawn at the
    query / key scales ([0.10, 0.25]) and v at the value one ([0.02, 0.05]), attn.Wo and mlp.Wo at the
    output scales, mlp.Wi (input and gate halves) at the intermediate one ([0.10, 0.20]), head.dense at
    the pooler's, classifier at the heads'; ~1% x4 outliers per matrix; biases (N(0, 0.05)) only where
    the config has them, LayerNorm gamma N(1, 0.05), beta N(0, 0.02) only with norm_bias."""
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    w = {}
    normal, matrix, linear, ln = weight_makers(rng, w, h, norm_bias=cfg["norm_bias"])

    p = "model."
    w[p + "embeddings.tok_embeddings.weight"] = normal((vocab, h), 0.05)
    ln(p + "embeddings.norm")
    for i in range(cfg["num_hidden_layers"]):
        lp = f"{p}layers.{i}."
        if i > 0:  # layer 0's attn_norm is nn.Identity
            ln(lp + "attn_norm")
        w[lp + "attn.Wqkv.weight"] = np.concatenate([matrix(h, h, 0.10, 0.25), matrix(h, h, 0.10, 0.25),
                                                     matrix(h, h, 0.02, 0.05)])
        if cfg["attention_bias"]:
            w[lp + "attn.Wqkv.bias"] = normal((3 * h,), 0.05)
        linear(lp + "attn.Wo", h, h, 0.02, 0.05, cfg["attention_bias"])
        ln(lp + "mlp_norm")
        linear(lp + "mlp.Wi", 2 * inter, h, 0.10, 0.20, cfg["mlp_bias"])
        linear(lp + "mlp.Wo", h, inter, 0.02, 0.05, cfg["mlp_bias"])
    ln(p + "final_norm")
    linear("head.dense", h, h, 0.10, 0.20, cfg["classifier_bias"])
    ln("head.norm")
    if arch == "ModernBertForMaskedLM":
        if cfg["decoder_bias"]:  # decoder.weight is tied to the token embeddings: not stored
            w["decoder.bias"] = normal((vocab,), 0.05)
    else:
        linear("classifier", num_labels_of(cfg), h, 0.15, 0.25, True)
    return w


def write_modernbert_tokenizer(d, vocab, merges, model_max_length):
    """tokenizer.json as ModernBERT ships it (byte-level BPE, its normalizer / pre-tokenizer /
    TemplateProcessing / decoder; no vocab.json or merges.txt) + a PreTrainedTokenizerFast
    tokenizer_config.json."""
    def added(t):
        return {"id": vocab[t], "content": t, "single_word": False, "lstrip": t == "[MASK]", "rstrip": False,
                "normalized": False, "special": True}

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(t) for t in MODERNBERT_SPECIALS],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": byte_level,
        "post_processor": {"type": "TemplateProcessing", "single": template_items("[CLS]:0 $A:0 [SEP]:0"),
                           "pair": template_items("[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"),
                           "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]}
                                              for t in ("[CLS]", "[SEP]")}},
        "decoder": dict(byte_level),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    tok_cfg = {"added_tokens_decoder": {str(vocab[t]): {k: v for k, v in added(t).items() if k != "id"}
                                        for t in MODERNBERT_SPECIALS},
               "clean_up_tokenization_spaces": True, "cls_token": "[CLS]", "mask_token": "[MASK]",
               "model_input_names": ["input_ids", "attention_mask"], "model_max_length": model_max_length,
               "pad_token": "[PAD]", "sep_token": "[SEP]", "tokenizer_class": "PreTrainedTokenizerFast",
               "unk_token": "[UNK]"}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2)
        f.write("\n")


def modernbert_cases(vocab, ranks, rng, cfg):
    """The BERT texts (QA_BATCH, PAIR_CASE) and ModernBERT ones through the reference tokenizer
    ([CLS] a [SEP] b [SEP], type ids 0 / 1, padded with [PAD] = 0): batch3_padded, len1_cls,
    len2_empty, sentence, pair, long (past the local windows), batch3_long_padded (long, a short
    sentence and pair, padded to long's length) and a random pair of all max_position_embeddings
    positions (ids from 5: no [MASK])."""
    def enc(text, pair=None):
        _, ids, types = ref.modernbert_encode(vocab, ranks, text, pair)
        return ids, types

    return padded_cases(enc, vocab, rng, cfg, [("len2_empty", ("", None)), MODERNBERT_SENTENCE, PAIR_CASE,
                                               MODERNBERT_LONG],
                        batches=[("batch3_long_padded", [MODERNBERT_LONG[1], QA_BATCH[0], PAIR_CASE[1]])],
                        cls=vocab["[CLS]"], pad=vocab["[PAD]"], sep=vocab["[SEP]"],
                        n=cfg["max_position_embeddings"], pair_random=True, id_range=(5, len(vocab)))


def modernbert_mlm_case(vocab, ranks):
    """MODERNBERT_MLM_TEXTS through the tokenizer, padded into one batch with [PAD]: the case
    `masked`."""
    encs = [ref.modernbert_encode(vocab, ranks, t) for t in MODERNBERT_MLM_TEXTS]
    seq = max(len(e[1]) for e in encs)
    return [{"name": "masked", "texts": [[t, None] for t in MODERNBERT_MLM_TEXTS], "tokens": [e[0] for e in encs],
             "input_ids": [e[1] + [vocab["[PAD]"]] * (seq - len(e[1])) for e in encs],
             "attention_mask": [[1] * len(e[1]) + [0] * (seq - len(e[1])) for e in encs],
             "token_type_ids": [e[2] + [0] * (seq - len(e[1])) for e in encs]}]


def modernbert_tokenizer_cases(vocab, ranks):
    """MODERNBERT_TOKENIZER_TEXTS through the reference tokenizer: {text, pair, ids, tokens,
    token_type_ids}. Checked: the tokens byte-decode to the text (without the whitespace a
    [MASK] takes)."""
    u2b = {u: b for b, u in ref.bytes_to_unicode().items()}
    out = []
    for text, pair in MODERNBERT_TOKENIZER_TEXTS:
        toks, ids, types = ref.modernbert_encode(vocab, ranks, text, pair)
        assert [vocab[t] for t in toks] == ids
        if pair is None:
            got = "".join(t if t in MODERNBERT_SPECIALS else bytes(u2b[ch] for ch in t).decode() for t in toks[1:-1])
            assert got == text.replace(" [MASK]", "[MASK]"), (got, text)
        out.append({"text": text, "pair": pair, "ids": ids, "tokens": toks, "token_type_ids": types})
    return out


def check_modernbert_reference(cfg, weights, cases, seed):
    """Self-check of the ModernBERT reference (fast, random tensors seeded by `seed`):
    - attention: modernbert_attention (float64 RoPE tables) against a naive loop over (b, h, i, j)
      with the rotation written per pair (x_j, x_{j+d/2}) and a softmax over the allowed keys only,
      global (padding) and local (|i - j| <= window // 2) masks;
    - the local mask against a naive |i - j| <= local_attention // 2 and key-not-padded loop;
    - RoPE: q'(p)·k'(p') depends only on p - p' (float64 tables, both thetas, 200 positions);
      the float32 tables (Hugging Face's) stay within 1e-5 of the float64 ones;
    - the fixture's model with local_attention >= 2 * len and local_rope_theta = global_rope_theta
      equals the same model with every layer global;
    - padding: every row of a padded case equals that sequence run alone (real tokens, and the
      mean-pooled or per-token logits);
    - the fixture exercises the local window (all-global differs) and the two thetas (swapped
      differs) on its long case, and the pooling (cls differs) for the sequence classifier (for the
      token classifier classifier_pooling must change nothing).
    Returns {check: value}."""
    g = np.random.default_rng(seed)
    st = ref.modernbert_settings(cfg)
    out = {}
    # attention against a naive loop
    b_, h_, s_, d_ = 2, 2, 12, 8
    q, k, v = (g.standard_normal((b_, h_, s_, d_)) for _ in range(3))
    am = [[1] * s_, [1] * (s_ - 3) + [0] * 3]
    theta, window = 10000.0, 4
    cos, sin = ref.modernbert_rope(s_, d_, theta, hf_float32=False)
    glob, local = ref.modernbert_masks(am, window)
    worst = 0.0
    for add, is_global in ((glob, True), (local, False)):
        got = ref.modernbert_attention(*(torch.from_numpy(a) for a in (q, k, v)), add, cos, sin).numpy()

        def rot(x, p):
            y = np.empty(d_)
            for j in range(d_ // 2):
                a = p * (1.0 / theta ** (2 * j / d_))
                y[j] = x[j] * math.cos(a) - x[j + d_ // 2] * math.sin(a)
                y[j + d_ // 2] = x[j + d_ // 2] * math.cos(a) + x[j] * math.sin(a)
            return y
        for b in range(b_):
            for hh in range(h_):
                for i in range(s_):
                    if not am[b][i]:
                        continue
                    keys = [j for j in range(s_) if am[b][j] and (is_global or abs(i - j) <= window // 2)]
                    qi = rot(q[b, hh, i], i)
                    sc = [float(qi @ rot(k[b, hh, j], j)) / math.sqrt(d_) for j in keys]
                    mx = max(sc)
                    e = [math.exp(x - mx) for x in sc]
                    want = sum(e[t] / sum(e) * v[b, hh, j] for t, j in enumerate(keys))
                    worst = max(worst, float(np.abs(got[b, hh, i] - want).max()))
    assert worst < 1e-12, worst
    out["attention vs naive loop"] = worst
    # the local mask
    for c in cases:
        m = c["attention_mask"]
        _, local = ref.modernbert_masks(m, st["local_attention"])
        n = len(m[0])
        naive = np.array([[[not (abs(i - j) <= st["local_attention"] // 2 and m[b][j]) for j in range(n)]
                           for i in range(n)] for b in range(len(m))])
        assert np.array_equal(local[:, 0].numpy() != 0, naive), c["name"]
    out["local mask vs naive loop"] = 0.0
    # RoPE: relative positions only
    worst, f32 = 0.0, 0.0
    qv, kv = torch.from_numpy(g.standard_normal(d_)), torch.from_numpy(g.standard_normal(d_))
    for t in (st["global_rope_theta"], st["local_rope_theta"]):
        cos, sin = ref.modernbert_rope(200, d_, t, hf_float32=False)
        c32, s32 = ref.modernbert_rope(200, d_, t)
        f32 = max(f32, float((c32 - cos).abs().max()), float((s32 - sin).abs().max()))
        qr, kr = ref.modernbert_apply_rope(qv[None], cos, sin), ref.modernbert_apply_rope(kv[None], cos, sin)
        mat = (qr @ kr.t()).numpy()
        pp = np.arange(200)
        shift = np.minimum(pp[:, None], pp[None, :])
        worst = max(worst, float(np.abs(mat - mat[pp[:, None] - shift, pp[None, :] - shift]).max()))
    assert worst < 1e-12 and f32 < 1e-5, (worst, f32)
    out["rope relative"] = worst
    out["rope float32 tables vs float64"] = f32
    # a window wider than every case: local layers = global layers (same theta)
    longest = max(len(c["input_ids"][0]) for c in cases)
    wide = dict(cfg, local_attention=2 * longest + 2, local_rope_theta=st["global_rope_theta"])
    every_global = dict(cfg, global_attn_every_n_layers=1, local_rope_theta=st["global_rope_theta"])
    worst = 0.0
    for c in cases:
        a = ref.forward(wide, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        b = ref.forward(every_global, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        worst = max([worst] + [float(np.abs(a[k] - b[k]).max()) for k in a])
    assert worst < 1e-13, worst
    out["wide window = all global"] = worst
    # padding invariance
    worst = 0.0
    for c in cases:
        if len(c["input_ids"]) < 2:
            continue
        full = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        for r, (ids, m) in enumerate(zip(c["input_ids"], c["attention_mask"])):
            n = sum(m)
            one = ref.forward(cfg, weights, [ids[:n]], [[1] * n], [[0] * n])
            worst = max(worst, float(np.abs(one["last_hidden_state"][0] - full["last_hidden_state"][r, :n]).max()))
            if "logits" in one:  # [1, L] pooled or [1, n, L] per token
                lf = full["logits"][r, :n] if full["logits"].ndim == 3 else full["logits"][r]
                worst = max(worst, float(np.abs(one["logits"][0] - lf).max()))
            for k in ("start_logits", "end_logits"):  # [1, n]
                if k in one:
                    worst = max(worst, float(np.abs(one[k][0] - full[k][r, :n]).max()))
    assert worst < 1e-12, worst
    out["padded rows = unpadded runs"] = worst
    # what the fixture exercises
    c = next(c for c in cases if c["name"] == "long")
    args = (c["input_ids"], c["attention_mask"], c["token_type_ids"])
    base = ref.forward(cfg, weights, *args)
    key = next(k for k in ("logits", "start_logits", "last_hidden_state") if k in base)
    variants = {"all layers global": dict(cfg, global_attn_every_n_layers=1),
                "rope thetas swapped": dict(cfg, global_rope_theta=st["local_rope_theta"],
                                            local_rope_theta=st["global_rope_theta"])}
    if st["local_rope_theta"] == st["global_rope_theta"]:  # local null: one theta, 10000 instead
        variants["rope thetas swapped"] = dict(cfg, global_rope_theta=10000.0, local_rope_theta=None)
    token_cls = cfg["architectures"][0] in ("ModernBertForTokenClassification", "ModernBertForQuestionAnswering")
    if key == "logits" and not token_cls:
        variants["cls pooling"] = dict(cfg, classifier_pooling="cls")
    if token_cls:  # the head runs on every token: classifier_pooling is unused
        other = "cls" if st["classifier_pooling"] == "mean" else "mean"
        dv = float(np.abs(ref.forward(dict(cfg, classifier_pooling=other), weights, *args)[key] - base[key]).max())
        assert dv == 0.0, dv
        out["logits change, other pooling (unused)"] = dv
    for label, c2 in variants.items():
        dv = float(np.abs(ref.forward(c2, weights, *args)[key] - base[key]).max())
        assert dv > 1e-4, (label, dv)
        out[f"{key} change, {label}"] = dv
    return out


def build_modernbert(out_dir, spec):
    name, arch, seed, extra = spec
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    vocab, merges = learn_bpe(len(build_vocab()), MODERNBERT_SPECIALS)
    ranks = {m: i for i, m in enumerate(merges)}
    cfg = dict(sorted(modernbert_config(len(vocab), arch, **extra).items()))
    rng = np.random.default_rng(seed)
    weights = modernbert_weights(rng, cfg, arch)
    meta = {"format": "pt", "generator": "sparq tools/make_fixtures.py", "seed": str(seed)}
    ref.write_safetensors(os.path.join(d, "model.safetensors"), weights, meta)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_modernbert_tokenizer(d, vocab, merges, cfg["max_position_embeddings"])
    loaded, loaded_dtypes, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    for k, v in weights.items():
        assert np.array_equal(loaded[k], v), k
    tv, tr = ref.load_bpe_tokenizer_json(d)
    assert tv == vocab and tr == ranks
    cases = modernbert_cases(vocab, ranks, np.random.default_rng(1000 + seed), cfg)
    if arch == "ModernBertForMaskedLM":
        cases += modernbert_mlm_case(vocab, ranks)
    t0 = __import__("time").time()
    checks = check_modernbert_reference(cfg, loaded, cases, seed)
    check_s = __import__("time").time() - t0
    mask_id = vocab["[MASK]"]
    max_f32_dev = 0.0
    for c in cases:
        outs = ref.forward(cfg, loaded, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        outs32 = ref.forward(cfg, loaded, c["input_ids"], c["attention_mask"], c["token_type_ids"],
                             dtype=torch.float32)
        mask = np.asarray(c["attention_mask"], dtype=bool)
        ids = np.asarray(c["input_ids"])
        for k, v in outs.items():
            dev = np.abs(outs32[k].astype(np.float64) - v)
            if k == "mlm_logits":  # [MASK] positions only: {"sequence", "position", "logits"}
                if (ids == mask_id).any():
                    c[k] = [{"sequence": int(b), "position": int(p), "logits": f32_list(v[b, p])}
                            for b, p in zip(*np.nonzero(ids == mask_id))]
                    max_f32_dev = max(max_f32_dev, float(dev[ids == mask_id].max()))
                continue
            if v.ndim >= 2 and v.shape[:2] == mask.shape:
                dev = dev[mask]
            max_f32_dev = max(max_f32_dev, float(dev.max()))
            c[k] = f32_list(v)
    last = cfg["num_hidden_layers"] - 1
    probe_names = ["model.embeddings.tok_embeddings.weight", "model.layers.0.attn.Wqkv.weight",
                   f"model.layers.{last}.attn.Wqkv.weight", "model.layers.1.attn_norm.weight",
                   "model.layers.0.mlp.Wi.weight", "model.final_norm.weight", "head.dense.weight"]
    if arch == "ModernBertForMaskedLM":
        probe_names += ["decoder.bias"]
    elif arch == "ModernBertForSequenceClassification":
        probe_names += ["model.layers.0.attn.Wqkv.bias", "model.layers.0.mlp.Wi.bias", "classifier.weight"]
    elif arch == "ModernBertForQuestionAnswering":  # attention bias, no MLP or norm bias
        probe_names += ["model.layers.0.attn.Wqkv.bias", "model.layers.1.attn.Wo.bias", "head.dense.bias",
                        "classifier.weight"]
    else:  # no attention bias
        probe_names += ["model.layers.0.mlp.Wi.bias", "head.dense.bias", "head.norm.bias", "classifier.weight",
                        "classifier.bias"]
    doc = {
        "model": name,
        "architecture": arch,
        "weights_dtype": "F32",
        "computed_in": "float64 (stored rounded to float32); RoPE cos / sin tables in float32 as Hugging Face",
        "max_abs_dev_torch_float32": max_f32_dev,
        "outputs_note": ("last_hidden_state/start_logits/end_logits" if arch == "ModernBertForQuestionAnswering"
                         else "last_hidden_state/logits") + " are [B][S](...) for every position incl. padding; "
                        "only positions with attention_mask 1 are meaningful"
        if arch in ("ModernBertForTokenClassification", "ModernBertForQuestionAnswering") else
        "last_hidden_state is [B][S][H] for every position incl. padding (only positions "
        "with attention_mask 1 are meaningful); logits [B][L] (mean pooling over the real "
        "tokens); mlm_logits only at the [MASK] positions",
        "probes": probes(loaded, loaded_dtypes, probe_names, np.random.default_rng(seed + 7)),
        "cases": cases,
        "tokenizer_cases": modernbert_tokenizer_cases(vocab, ranks),
    }
    write_reference(d, doc, name, arch, "F32", len(weights), max_f32_dev)
    print(f"  ModernBERT reference self-check ({check_s:.2f} s): " +
          ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))


# NomicBERT (nomic-ai/nomic-embed-text-v1 / v1.5, remote code modeling_hf_nomic_bert.py, model_type
# "nomic_bert"): tiny_nomic has the published checkpoints' settings (swiglu, no biases, rotary base
# 1000, eps 1e-12, post-norm), tiny_nomic_geglu every optional tensor (Wqkv / out_proj / fc11 / fc12 /
# fc2 biases) with the other gated activation (geglu: erf GELU), base 10000, eps 1e-5 and 3 layers.
# The WordPiece vocabulary is build_vocab()'s; vocab_size is its size rounded up to
# pad_vocab_size_multiple (390 -> 448, as the real 30522 -> 30528): the embedding table has the
# extra (random) rows, vocab.txt does not.
NOMIC_PAD_MULTIPLE = 64
NOMIC = {"activation_function": "swiglu", "layer_norm_epsilon": 1e-12, "mlp_fc1_bias": False,
         "mlp_fc2_bias": False, "n_layer": LAYERS, "qkv_proj_bias": False, "rotary_emb_base": 1000}
# n_inner 200: the remote code's NomciBertGatedMLP rounds the width up to a multiple of 256 (its
# multiple_of), so the matrices are 256 wide, as a model loading it must compute.
NOMIC_GEGLU = {"activation_function": "geglu", "layer_norm_epsilon": 1e-5, "mlp_fc1_bias": True,
               "mlp_fc2_bias": True, "n_inner": 200, "n_layer": 3, "qkv_proj_bias": True,
               "rotary_emb_base": 10000}
NOMIC_MODELS = [
    # name, seed, config
    ("tiny_nomic", 51, NOMIC),
    ("tiny_nomic_geglu", 52, NOMIC_GEGLU),
]


def nomic_config(vocab_size, **extra):
    """nomic-embed-text-v1.5's config.json with the tiny sizes (n_inner 256: the smallest width the
    remote code builds, a multiple of its multiple_of 256)."""
    cfg = {"activation_function": "swiglu", "architectures": ["NomicBertModel"], "attn_pdrop": 0.0,
           "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert.NomicBertConfig",
                        "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertModel"},
           "bos_token_id": None, "causal": False, "dense_seq_output": True, "embd_pdrop": 0.0,
           "eos_token_id": None, "fused_bias_fc": True, "fused_dropout_add_ln": True, "initializer_range": 0.02,
           "layer_norm_epsilon": 1e-12, "max_trained_positions": 2048, "mlp_fc1_bias": False,
           "mlp_fc2_bias": False, "model_type": "nomic_bert", "n_embd": HIDDEN, "n_head": HEADS, "n_inner": 256,
           "n_layer": LAYERS, "n_positions": MAX_POS, "pad_vocab_size_multiple": NOMIC_PAD_MULTIPLE,
           "prenorm": False, "qkv_proj_bias": False, "resid_pdrop": 0.0, "rotary_emb_base": 1000,
           "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "rotary_emb_scale_base": None,
           "rotary_scaling_factor": None, "scale_attn_weights": True, "torch_dtype": "float32",
           "transformers_version": "4.34.0", "type_vocab_size": TYPE_VOCAB, "use_cache": True,
           "use_flash_attn": True, "use_rms_norm": False, "use_xentropy": True,
           "vocab_size": -(-vocab_size // NOMIC_PAD_MULTIPLE) * NOMIC_PAD_MULTIPLE}
    cfg.update(extra)
    return dict(sorted(cfg.items()))


def nomic_mlp_width(n_inner):
    """NomciBertGatedMLP's hidden width: n_inner rounded up to a multiple of 256 (multiple_of)."""
    return (n_inner + 255) // 256 * 256


def weight_makers(rng, w, h, norm_bias=True):
    """make_weights' draws for the fused-name families (ModernBERT, NomicBERT, GTE), writing into
    the dict w: normal(shape, std); matrix(out, in, lo, hi): N(0, s) with s drawn in [lo, hi] and
    ~1% x4 outliers; linear(name, out, in, lo, hi, bias): name.weight = matrix(...) (+ name.bias
    N(0, 0.05) when bias); ln(name): gamma N(1, 0.05) of width h, beta N(0, 0.02) when norm_bias."""

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def matrix(out_f, in_f, lo, hi):
        m = normal((out_f, in_f), rng.uniform(lo, hi))
        m[rng.random(m.shape) < 0.01] *= 4.0
        return m

    def linear(name, out_f, in_f, lo, hi, bias):
        w[name + ".weight"] = matrix(out_f, in_f, lo, hi)
        if bias:
            w[name + ".bias"] = normal((out_f,), 0.05)

    def ln(name):
        w[name + ".weight"] = (1.0 + rng.standard_normal(h) * 0.05).astype(np.float32)
        if norm_bias:
            w[name + ".bias"] = normal((h,), 0.02)

    return normal, matrix, linear, ln


def nomic_weights(rng, cfg):
    """make_weights' scales under NomicBERT's names (no prefix): Wqkv = [q; k; v] with q / k at the
    query / key scales ([0.10, 0.25]) and v at the value one ([0.02, 0.05]), out_proj and fc2 at the
    output scales, fc11 / fc12 at the intermediate one ([0.10, 0.20]); ~1% x4 outliers per matrix;
    word embeddings (every row of the padded table) N(0, 0.05), token types N(0, 0.03); biases
    N(0, 0.05) only where the config has them; LayerNorm gamma N(1, 0.05), beta N(0, 0.02)."""
    h, inter = cfg["n_embd"], nomic_mlp_width(cfg["n_inner"])
    w = {}
    normal, matrix, linear, ln = weight_makers(rng, w, h)
    w["embeddings.word_embeddings.weight"] = normal((cfg["vocab_size"], h), 0.05)
    w["embeddings.token_type_embeddings.weight"] = normal((cfg["type_vocab_size"], h), 0.03)
    ln("emb_ln")
    for i in range(cfg["n_layer"]):
        lp = f"encoder.layers.{i}."
        w[lp + "attn.Wqkv.weight"] = np.concatenate([matrix(h, h, 0.10, 0.25), matrix(h, h, 0.10, 0.25),
                                                     matrix(h, h, 0.02, 0.05)])
        if cfg["qkv_proj_bias"]:
            w[lp + "attn.Wqkv.bias"] = normal((3 * h,), 0.05)
        linear(lp + "attn.out_proj", h, h, 0.02, 0.05, cfg["qkv_proj_bias"])
        ln(lp + "norm1")
        linear(lp + "mlp.fc11", inter, h, 0.10, 0.20, cfg["mlp_fc1_bias"])
        linear(lp + "mlp.fc12", inter, h, 0.10, 0.20, cfg["mlp_fc1_bias"])
        linear(lp + "mlp.fc2", h, inter, 0.02, 0.05, cfg["mlp_fc2_bias"])
        ln(lp + "norm2")
    return w


def nomic_hf_transcription(cfg):
    """A literal transcription of modeling_hf_nomic_bert.py's inference path (NomicBertModel with
    add_pooling_layer=False, eval mode, no KV cache, rotary_head_dim false, prenorm false) as
    nn.Modules, with the remote code's class and attribute names so a Hugging Face state dict loads
    into it (strict). einops' rearrange / repeat written as reshape / cat / repeat_interleave.
    Independent of bert_reference.py (shares no code with it)."""
    import torch.nn as nn
    import torch.nn.functional as F

    def rotate_half(x, interleaved=False):
        if not interleaved:
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat((-x2, x1), dim=-1)
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((-x2, x1), dim=-1).flatten(-2)  # "... d two -> ... (d two)"

    def apply_rotary_emb(x, cos, sin, offset=0, interleaved=False):
        ro_dim = cos.shape[-1] * 2
        assert ro_dim <= x.shape[-1]
        cos, sin = cos[offset:offset + x.shape[1]], sin[offset:offset + x.shape[1]]
        if not interleaved:  # "... d -> ... 1 (2 d)"
            cos, sin = torch.cat([cos, cos], dim=-1).unsqueeze(-2), torch.cat([sin, sin], dim=-1).unsqueeze(-2)
        else:  # "... d -> ... 1 (d 2)"
            cos, sin = cos.repeat_interleave(2, dim=-1).unsqueeze(-2), sin.repeat_interleave(2, dim=-1).unsqueeze(-2)
        return torch.cat([x[..., :ro_dim] * cos + rotate_half(x[..., :ro_dim], interleaved) * sin,
                          x[..., ro_dim:]], dim=-1)

    class NomicBertRotaryEmbedding(nn.Module):
        def __init__(self, dim, base=10000.0, interleaved=False, scale_base=None, pos_idx_in_fp32=True):
            super().__init__()
            assert scale_base is None
            self.dim = dim
            self.base = float(base)
            self.pos_idx_in_fp32 = pos_idx_in_fp32
            self.register_buffer("inv_freq", self._compute_inv_freq(), persistent=False)
            self.interleaved = interleaved
            self._seq_len_cached = 0
            self._cos_cached = self._sin_cached = None

        def _compute_inv_freq(self, device=None):
            return 1.0 / (self.base ** (torch.arange(0, self.dim, 2, device=device, dtype=torch.float32) / self.dim))

        def _update_cos_sin_cache(self, seqlen, device=None, dtype=None):
            if (seqlen > self._seq_len_cached or self._cos_cached is None or self._cos_cached.device != device
                    or self._cos_cached.dtype != dtype):
                self._seq_len_cached = seqlen
                if self.pos_idx_in_fp32:
                    t = torch.arange(seqlen, device=device, dtype=torch.float32)
                    inv_freq = self._compute_inv_freq(device=device) if self.inv_freq.dtype != torch.float32 \
                        else self.inv_freq
                else:
                    t = torch.arange(seqlen, device=device, dtype=self.inv_freq.dtype)
                    inv_freq = self.inv_freq
                freqs = torch.outer(t, inv_freq)
                self._cos_cached = torch.cos(freqs).to(dtype)
                self._sin_cached = torch.sin(freqs).to(dtype)

        def forward(self, qkv, seqlen_offset=0):
            seqlen = qkv.shape[1]
            if seqlen > self._seq_len_cached:
                self._update_cos_sin_cache(seqlen, device=qkv.device, dtype=qkv.dtype)
            else:
                self._update_cos_sin_cache(seqlen + seqlen_offset, device=qkv.device, dtype=qkv.dtype)
            q_rot = apply_rotary_emb(qkv[:, :, 0], self._cos_cached, self._sin_cached, seqlen_offset, self.interleaved)
            k_rot = apply_rotary_emb(qkv[:, :, 1], self._cos_cached, self._sin_cached, seqlen_offset, self.interleaved)
            return torch.stack((q_rot, k_rot, qkv[:, :, 2]), dim=2)

    class NomicBertAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.embed_dim = config["n_embd"]
            self.num_heads = config["n_head"]
            self.num_heads_kv = self.num_heads
            self.head_dim = self.embed_dim // self.num_heads
            qkv_dim = self.head_dim * (self.num_heads + 2 * self.num_heads_kv)
            self.register_buffer("norm_factor", torch.sqrt(torch.tensor(self.head_dim, dtype=torch.float32))
                                 .to(torch.get_default_dtype()), persistent=False)
            self.rotary_emb_dim = self.head_dim * config["rotary_emb_fraction"]
            assert self.rotary_emb_dim > 0 and not config["rotary_scaling_factor"]
            self.rotary_emb = NomicBertRotaryEmbedding(dim=self.rotary_emb_dim, base=config["rotary_emb_base"],
                                                       scale_base=config["rotary_emb_scale_base"],
                                                       interleaved=config["rotary_emb_interleaved"])
            self.Wqkv = nn.Linear(self.embed_dim, qkv_dim, bias=config["qkv_proj_bias"])
            self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=config["qkv_proj_bias"])

        def forward(self, hidden_states, attention_mask=None):
            qkv = self.Wqkv(hidden_states)
            # rearrange(qkv, "... (three h d) -> ... three h d", three=3, d=self.head_dim)
            qkv = qkv.reshape(*qkv.shape[:-1], 3, -1, self.head_dim)
            qkv = self.rotary_emb(qkv, seqlen_offset=0)
            query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
            query = query.permute(0, 2, 1, 3)
            key = key.permute(0, 2, 1, 3)
            value = value.permute(0, 2, 1, 3)
            attention_scores = torch.matmul(query, key.transpose(-1, -2)) / self.norm_factor
            if attention_mask is not None:
                attention_scores = attention_scores + attention_mask
            attentions_probs = F.softmax(attention_scores, dim=-1)
            attn_output = torch.matmul(attentions_probs, value)
            # rearrange(attn_output.permute(0, 2, 1, 3), "... h d -> ... (h d)")
            attn_output = attn_output.permute(0, 2, 1, 3)
            attn_output = attn_output.reshape(*attn_output.shape[:-2], -1)
            return self.out_proj(attn_output)

    class NomciBertGatedMLP(nn.Module):
        def __init__(self, in_features, hidden_features=None, out_features=None, activation=torch.sigmoid,
                     bias1=True, bias2=True, multiple_of=256):
            super().__init__()
            out_features = out_features if out_features is not None else in_features
            hidden_features = hidden_features if hidden_features is not None else int(8 * in_features / 3)
            hidden_features = (hidden_features + multiple_of - 1) // multiple_of * multiple_of
            self.fc11 = nn.Linear(in_features, hidden_features, bias=bias1)
            self.fc12 = nn.Linear(in_features, hidden_features, bias=bias1)
            self.activation = activation
            self.fc2 = nn.Linear(hidden_features, out_features, bias=bias2)

        def forward(self, x):
            y = self.fc11(x)
            gate = self.fc12(x)
            if self.activation == torch.sigmoid:  # Special case for GLU
                y = F.glu(torch.cat([y, gate], dim=-1), dim=-1)
            else:
                y = y * self.activation(gate)
            return self.fc2(y)

    class NomicBertBlock(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.prenorm = config["prenorm"]
            self.attn = NomicBertAttention(config)
            act = config["activation_function"]
            activation = torch.sigmoid if act == "glu" else (F.silu if act == "swiglu" else F.gelu)
            assert act in ("glu", "swiglu", "geglu")
            self.mlp = NomciBertGatedMLP(config["n_embd"], hidden_features=config["n_inner"],
                                         bias1=config["mlp_fc1_bias"], bias2=config["mlp_fc2_bias"],
                                         activation=activation)
            self.norm1 = nn.LayerNorm(config["n_embd"], eps=config["layer_norm_epsilon"])
            self.norm2 = nn.LayerNorm(config["n_embd"], eps=config["layer_norm_epsilon"])

        def forward(self, hidden_states, attention_mask=None):
            assert not self.prenorm
            attn_outputs = self.attn(hidden_states, attention_mask=attention_mask)
            hidden_states = self.norm1((attn_outputs + hidden_states).to(dtype=self.norm1.weight.dtype))
            mlp_out = self.mlp(hidden_states)
            return self.norm2((mlp_out + hidden_states).to(dtype=self.norm2.weight.dtype))

    class NomicBertEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config["vocab_size"], config["n_embd"])
            assert config["rotary_emb_fraction"] > 0  # no position table
            self.type_vocab_size = config["type_vocab_size"]
            if self.type_vocab_size > 0:
                self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], config["n_embd"])

        def forward(self, input_ids, token_type_ids=None):
            embeddings = self.word_embeddings(input_ids)
            if self.type_vocab_size > 0:
                embeddings = embeddings + self.token_type_embeddings(token_type_ids)
            return embeddings

    class NomicBertEncoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.layers = nn.ModuleList([NomicBertBlock(config) for _ in range(config["n_layer"])])

        def forward(self, hidden_states, attention_mask=None):
            for layer in self.layers:
                hidden_states = layer(hidden_states, attention_mask)
            return hidden_states

    class NomicBertModel(nn.Module):
        def __init__(self, config):
            super().__init__()
            vocab, mult = config["vocab_size"], config["pad_vocab_size_multiple"]
            if vocab % mult != 0:
                vocab += mult - vocab % mult
            self.embeddings = NomicBertEmbeddings(dict(config, vocab_size=vocab))
            self.emb_ln = nn.LayerNorm(config["n_embd"], eps=config["layer_norm_epsilon"])
            self.encoder = NomicBertEncoder(config)

        def forward(self, input_ids, token_type_ids=None, attention_mask=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            hidden_states = self.emb_ln(self.embeddings(input_ids, token_type_ids=token_type_ids))
            # PreTrainedModel.get_extended_attention_mask (encoder): [B, 1, 1, S], min of the model dtype
            dtype = self.emb_ln.weight.dtype
            ext = attention_mask[:, None, None, :].to(dtype=dtype)
            ext = (1.0 - ext) * torch.finfo(dtype).min
            return self.encoder(hidden_states, attention_mask=ext)

    return NomicBertModel(cfg).eval()


def check_nomic_reference(cfg, weights, cases, seed):
    """Self-check of the NomicBERT reference:
    - the literal transcription of the remote code (nomic_hf_transcription, the fixture's weights
      loaded strictly: the names and shapes are exactly a NomicBertModel's) on every case equals
      ref.forward: in float64 (the remote code's float32 rotary tables in both) within 1e-12, and run
      in float32 against the float64 reference within 1e-5 (every position, padding included);
    - nomic_apply_rotary against a naive loop rotating each pair (x_j, x_{j + r/2}) by its table
      angle, full and partial (rotary dim < head_dim) rotary; the float32 tables within 1e-5 of
      float64 cos / sin of p * base^(-2j / r);
    - padding: every row of a padded case equals that sequence run alone.
    Returns {check: value}."""
    out = {}
    dev64, dev32 = transcription_deviation(
        nomic_hf_transcription(cfg), cfg, weights, cases,
        lambda m, ids, mask, tt: m(ids, tt, mask))
    assert dev64 < 1e-12 and dev32 < 1e-5, (dev64, dev32)
    out["remote-code transcription float64"] = dev64
    out["remote-code transcription float32"] = dev32
    # rotary against a naive per-pair loop
    g = np.random.default_rng(seed)
    worst, f32 = 0.0, 0.0
    for d_, r_ in ((8, 8), (8, 4)):
        s_ = 40
        x = g.standard_normal((2, s_, 3, d_))
        cos, sin = ref.nomic_rotary(s_, r_, cfg["rotary_emb_base"])
        got = ref.nomic_apply_rotary(torch.from_numpy(x), cos, sin).numpy()
        worst = max(worst, float(np.abs(got - naive_pair_rotation(x, cos, sin, r_)).max()))
        f32 = max(f32, rotary_table_deviation(cos, sin, [cfg["rotary_emb_base"] ** (-2.0 * j / r_)
                                                         for j in range(r_ // 2)]))
    assert worst < 1e-14 and f32 < 1e-5, (worst, f32)
    out["rotary vs naive loop"] = worst
    out["rotary float32 tables vs float64"] = f32
    worst = padded_rows_deviation(cfg, weights, cases)
    assert worst < 1e-12, worst
    out["padded rows = unpadded runs"] = worst
    return out


def transcription_deviation(model, cfg, weights, cases, run):
    """Loads the fixture's weights into a remote-code transcription strictly (the names and shapes
    must be exactly its state dict's) and returns max |transcription - ref.forward| of
    last_hidden_state over every case and position (padding included), the module run in float64
    and in float32 (the reference in float64). run(model, input_ids, attention_mask,
    token_type_ids) calls it on int64 tensors and returns last_hidden_state, or a dict of
    ref.forward's output names (every one compared)."""
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
    dev64 = dev32 = 0.0
    for c in cases:
        want = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        args = [torch.as_tensor(np.asarray(c[k], dtype=np.int64))
                for k in ("input_ids", "attention_mask", "token_type_ids")]
        with torch.no_grad():
            got64 = run(model.double(), *args)
            got32 = run(model.float(), *args)
        if not isinstance(got64, dict):
            got64, got32 = {"last_hidden_state": got64}, {"last_hidden_state": got32}
        for k in got64:
            dev64 = max(dev64, float(np.abs(got64[k].numpy() - want[k]).max()))
            dev32 = max(dev32, float(np.abs(got32[k].numpy().astype(np.float64) - want[k]).max()))
    return dev64, dev32


def naive_pair_rotation(x, cos, sin, r):
    """x [B, S, heads, d] (numpy) rotated pair by pair: (x_j, x_{j + r/2}) of position p by the
    angle with cosine cos[p, j] and sine sin[p, j], j < r / 2 (rotate_half's pairing, not
    interleaved); the channels from r on unchanged."""
    want = x.copy()
    for p in range(x.shape[1]):
        for j in range(r // 2):
            a, b = x[:, p, :, j], x[:, p, :, j + r // 2]
            want[:, p, :, j] = a * float(cos[p, j]) - b * float(sin[p, j])
            want[:, p, :, j + r // 2] = b * float(cos[p, j]) + a * float(sin[p, j])
    return want


def rotary_table_deviation(cos, sin, inv_freq):
    """max |table - float64 cos / sin of p * inv_freq[j]| over positions p and j < len(inv_freq)."""
    dev = 0.0
    for p in range(cos.shape[0]):
        for j, f in enumerate(inv_freq):
            ang = p * f
            dev = max(dev, abs(float(cos[p, j]) - math.cos(ang)), abs(float(sin[p, j]) - math.sin(ang)))
    return dev


def padded_rows_deviation(cfg, weights, cases):
    """max |row of a padded case - that sequence run alone| of every output: last_hidden_state
    (real tokens) and the per-sequence ones (pooler_output, logits)."""
    worst = 0.0
    for c in cases:
        if len(c["input_ids"]) < 2:
            continue
        full = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        for r, (ids, m, t) in enumerate(zip(c["input_ids"], c["attention_mask"], c["token_type_ids"])):
            n = sum(m)
            one = ref.forward(cfg, weights, [ids[:n]], [[1] * n], [t[:n]])
            for k, v in full.items():
                worst = max(worst, float(np.abs(one[k][0] - (v[r, :n] if v.ndim == 3 else v[r])).max()))
    return worst


def write_wordpiece_files(d, vocab_list, model_max_length):
    """vocab.txt (the WordPiece entries, not the padded embedding rows) and a BertTokenizer
    tokenizer_config.json (lower case)."""
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab_list) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": model_max_length, "tokenizer_class": "BertTokenizer"},
                  f, indent=2)
        f.write("\n")


def reference_outputs(cfg, weights, cases):
    """Stores ref.forward's float64 outputs (as float32 lists) in every case; returns the largest
    |float32 run - float64 run| over the real tokens (last_hidden_state [B, S, H]) and the
    per-sequence outputs (pooler_output, logits [B, ...])."""
    max_f32_dev = 0.0
    for c in cases:
        outs = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
        outs32 = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"],
                             dtype=torch.float32)
        mask = np.asarray(c["attention_mask"], dtype=bool)
        for k, v in outs.items():
            dev = np.abs(outs32[k].astype(np.float64) - v)
            max_f32_dev = max(max_f32_dev, float((dev[mask] if v.ndim == 3 else dev).max()))
            c[k] = f32_list(v)
    return max_f32_dev


def nomic_probe_names(cfg):
    last = cfg["n_layer"] - 1
    names = ["embeddings.word_embeddings.weight", "embeddings.token_type_embeddings.weight", "emb_ln.bias",
             "encoder.layers.0.attn.Wqkv.weight", f"encoder.layers.{last}.attn.out_proj.weight",
             "encoder.layers.0.mlp.fc11.weight", f"encoder.layers.{last}.mlp.fc12.weight",
             "encoder.layers.1.mlp.fc2.weight", f"encoder.layers.{last}.norm2.weight"]
    if cfg["qkv_proj_bias"]:
        names += ["encoder.layers.0.attn.Wqkv.bias", f"encoder.layers.{last}.attn.out_proj.bias"]
    if cfg["mlp_fc1_bias"]:
        names += ["encoder.layers.0.mlp.fc11.bias", "encoder.layers.1.mlp.fc12.bias"]
    if cfg["mlp_fc2_bias"]:
        names += [f"encoder.layers.{last}.mlp.fc2.bias"]
    return names


def build_nomic(out_dir, vocab_list, spec):
    build_rotary_family(out_dir, vocab_list, spec, "NomicBertModel", "NomicBERT", nomic_config,
                        NOMIC_PAD_MULTIPLE, nomic_weights, "n_positions", check_nomic_reference,
                        nomic_probe_names)


# GTE v1.5 (Alibaba-NLP/gte-base-en-v1.5, gte-large-en-v1.5, gte-multilingual-base; remote code
# modeling.py / configuration.py of Alibaba-NLP/new-impl, model_type "new", NewModel): tiny_gte has
# gte-base-en-v1.5's published config.json (gelu, rope_theta 500000 with rope_scaling ntk factor 2,
# type_vocab_size 0 — no token-type table —, eps 1e-12, post-norm) with intermediate_size 80 (not a
# multiple of 16), tiny_gte_silu the other branches: silu, no rope_scaling, rope_theta 10000, two
# token types, eps 1e-5, 3 layers, intermediate_size 64, and the NewConfig keys a saved config
# carries beyond the published file (classifier_dropout, logn_attention_scale / _clip1 false).
# vocab_size is the WordPiece vocabulary rounded up to a multiple of 64 (390 -> 448, as the real
# 30522 -> 30528): the embedding table has the extra (random) rows, vocab.txt does not.
GTE_VOCAB_MULTIPLE = 64
GTE = {}
GTE_SILU = {"classifier_dropout": None, "hidden_act": "silu", "intermediate_size": 64, "layer_norm_eps": 1e-5,
            "logn_attention_clip1": False, "logn_attention_scale": False, "num_hidden_layers": 3,
            "rope_scaling": None, "rope_theta": 10000, "type_vocab_size": 2}
GTE_MODELS = [
    # name, seed, config
    ("tiny_gte", 61, GTE),
    ("tiny_gte_silu", 62, GTE_SILU),
]
GTE_AUTO_MAP = {
    "AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
    "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel",
    "AutoModelForMaskedLM": "Alibaba-NLP/new-impl--modeling.NewForMaskedLM",
    "AutoModelForMultipleChoice": "Alibaba-NLP/new-impl--modeling.NewForMultipleChoice",
    "AutoModelForQuestionAnswering": "Alibaba-NLP/new-impl--modeling.NewForQuestionAnswering",
    "AutoModelForSequenceClassification": "Alibaba-NLP/new-impl--modeling.NewForSequenceClassification",
    "AutoModelForTokenClassification": "Alibaba-NLP/new-impl--modeling.NewForTokenClassification",
}


def gte_config(vocab_size, **extra):
    """gte-base-en-v1.5's config.json (its keys exactly) with the tiny sizes: hidden 32, 4 heads,
    2 layers, intermediate_size 80, max_position_embeddings MAX_POS, vocab_size rounded up to a
    multiple of 64."""
    cfg = {"architectures": ["NewModel"], "attention_probs_dropout_prob": 0.0, "auto_map": dict(GTE_AUTO_MAP),
           "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": HIDDEN, "initializer_range": 0.02,
           "intermediate_size": 80, "layer_norm_eps": 1e-12, "layer_norm_type": "layer_norm",
           "max_position_embeddings": MAX_POS, "model_type": "new", "num_attention_heads": HEADS,
           "num_hidden_layers": LAYERS, "pack_qkv": True, "pad_token_id": 0, "position_embedding_type": "rope",
           "rope_scaling": {"factor": 2.0, "type": "ntk"}, "rope_theta": 500000, "torch_dtype": "float32",
           "transformers_version": "4.39.1", "type_vocab_size": 0, "unpad_inputs": False,
           "use_memory_efficient_attention": False,
           "vocab_size": -(-vocab_size // GTE_VOCAB_MULTIPLE) * GTE_VOCAB_MULTIPLE}
    cfg.update(extra)
    return dict(sorted(cfg.items()))


def gte_weights(rng, cfg):
    """make_weights' scales (weight_makers, as nomic_weights) under NewModel's names (no prefix):
    attention.qkv_proj = [q; k; v] with q / k at the query / key scales ([0.10, 0.25]) and v at the
    value one ([0.02, 0.05]) + bias [3H]; attention.o_proj and mlp.down_proj at the output scales
    + bias; mlp.up_gate_proj = [up; gate] (no bias), each half at the intermediate scale
    ([0.10, 0.20]); ~1% x4 outliers per matrix; word embeddings (every row of the padded table)
    N(0, 0.05), token types (if type_vocab_size > 0) N(0, 0.03); biases N(0, 0.05); LayerNorm gamma
    N(1, 0.05), beta N(0, 0.02)."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    w = {}
    normal, matrix, linear, ln = weight_makers(rng, w, h)
    w["embeddings.word_embeddings.weight"] = normal((cfg["vocab_size"], h), 0.05)
    if cfg["type_vocab_size"] > 0:
        w["embeddings.token_type_embeddings.weight"] = normal((cfg["type_vocab_size"], h), 0.03)
    ln("embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        lp = f"encoder.layer.{i}."
        w[lp + "attention.qkv_proj.weight"] = np.concatenate([matrix(h, h, 0.10, 0.25), matrix(h, h, 0.10, 0.25),
                                                              matrix(h, h, 0.02, 0.05)])
        w[lp + "attention.qkv_proj.bias"] = normal((3 * h,), 0.05)
        linear(lp + "attention.o_proj", h, h, 0.02, 0.05, True)
        ln(lp + "attn_ln")
        w[lp + "mlp.up_gate_proj.weight"] = np.concatenate([matrix(inter, h, 0.10, 0.20),
                                                            matrix(inter, h, 0.10, 0.20)])
        linear(lp + "mlp.down_proj", h, inter, 0.02, 0.05, True)
        ln(lp + "mlp_ln")
    return w


def gte_hf_transcription(cfg):
    """A literal transcription of Alibaba-NLP/new-impl's modeling.py inference path (NewModel with
    add_pooling_layer=False, eval mode, attn_implementation "eager": NewAttention._attention;
    xformers, gradient checkpointing, RetroMAE's qkv_inputs and the heads left out) as nn.Modules,
    with the remote code's class and attribute names so a Hugging Face state dict loads into it
    (strict); the config is NewConfig's defaults updated by cfg; ACT2FN and
    PreTrainedModel.get_extended_attention_mask written out. Independent of bert_reference.py
    (shares no code with it)."""
    import types
    import torch.nn as nn

    new_config_defaults = dict(
        vocab_size=30528, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0, max_position_embeddings=2048,
        type_vocab_size=1, initializer_range=0.02, layer_norm_type="layer_norm", layer_norm_eps=1e-12,
        position_embedding_type="rope", rope_theta=10000.0, rope_scaling=None, classifier_dropout=None,
        pack_qkv=True, unpad_inputs=False, use_memory_efficient_attention=False, logn_attention_scale=False,
        logn_attention_clip1=False, pad_token_id=None, _attn_implementation="eager")
    config = types.SimpleNamespace(**dict(new_config_defaults, **cfg))
    ACT2FN = {"gelu": nn.GELU, "silu": nn.SiLU}  # transformers' GELUActivation: nn.functional.gelu (erf)

    def rotate_half(x):
        """Rotates half the hidden dims of the input."""
        x1 = x[..., : x.shape[-1] // 2]
        x2 = x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def apply_rotary_pos_emb(q, k, cos, sin):
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q_embed = (q * cos) + (rotate_half(q) * sin)
        k_embed = (k * cos) + (rotate_half(k) * sin)
        return q_embed, k_embed

    class RotaryEmbedding(torch.nn.Module):
        def __init__(self, dim, max_position_embeddings=512, base=10000.0, device=None):
            super().__init__()
            self.dim = dim
            self.max_position_embeddings = max_position_embeddings
            self.base = base
            inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2).float().to(device) / self.dim))
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            self._set_cos_sin_cache(
                seq_len=max_position_embeddings, device=self.inv_freq.device, dtype=torch.get_default_dtype())

        def _set_cos_sin_cache(self, seq_len, device, dtype):
            self.max_seq_len_cached = seq_len
            t = torch.arange(self.max_seq_len_cached, device=device, dtype=torch.float32)
            freqs = torch.einsum("i,j->ij", t, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self.register_buffer("cos_cached", emb.cos().to(dtype), persistent=False)
            self.register_buffer("sin_cached", emb.sin().to(dtype), persistent=False)

        def forward(self, x, seq_len=None):
            if seq_len > self.max_seq_len_cached:
                self._set_cos_sin_cache(seq_len=seq_len, device=x.device, dtype=x.dtype)
            return (
                self.cos_cached[:seq_len, ...].to(dtype=x.dtype),
                self.sin_cached[:seq_len, ...].to(dtype=x.dtype),
            )

    class NTKScalingRotaryEmbedding(RotaryEmbedding):
        def __init__(self, dim, max_position_embeddings=512, base=10000, device=None, scaling_factor=1.0, mixed_b=None):
            self.scaling_factor = scaling_factor
            self.mixed_b = mixed_b
            super().__init__(dim, max_position_embeddings, base, device)
            max_position_embeddings = max_position_embeddings * self.scaling_factor
            self._set_cos_sin_cache(max_position_embeddings, self.inv_freq.device, torch.get_default_dtype())

        def _set_cos_sin_cache(self, seq_len, device, dtype):
            self.max_seq_len_cached = seq_len
            if seq_len > self.max_position_embeddings:
                base = self.base * (self.scaling_factor if self.mixed_b is None else 1)
                inv_freq = 1.0 / (base ** (torch.arange(0, self.dim, 2).float().to(device) / self.dim))
                if self.mixed_b is None:
                    inv_freq = inv_freq / self.scaling_factor ** (2 / self.dim)  # (6)
                else:
                    a = torch.tensor(self.scaling_factor).log() / (self.dim / 2) ** self.mixed_b  # (13)
                    lambda_1_m = (a * torch.arange(1, self.dim // 2 + 1).float().to(device) ** self.mixed_b).exp()
                    inv_freq = inv_freq / lambda_1_m  # (10)
                self.register_buffer("inv_freq", inv_freq, persistent=False)
            t = torch.arange(self.max_seq_len_cached, device=device, dtype=torch.float32)
            freqs = torch.einsum("i,j->ij", t, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self.register_buffer("cos_cached", emb.cos().to(dtype), persistent=False)
            self.register_buffer("sin_cached", emb.sin().to(dtype), persistent=False)

    assert config.layer_norm_type == "layer_norm"  # LAYER_NORM["rms_norm"] (RMSNorm) left out

    class NewEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.padding_idx = config.pad_token_id
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=self.padding_idx)
            self.position_embedding_type = config.position_embedding_type
            if self.position_embedding_type == "absolute":
                self.position_embeddings = nn.Embedding(
                    config.max_position_embeddings, config.hidden_size, padding_idx=self.padding_idx)
            elif self.position_embedding_type == "rope":
                self._init_rope(config)
            else:
                raise ValueError
            self.type_vocab_size = config.type_vocab_size
            if self.type_vocab_size > 0:
                self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.register_buffer("position_ids", torch.arange(config.max_position_embeddings), persistent=False)

        def _init_rope(self, config):
            kwargs = dict(
                dim=int(config.hidden_size / config.num_attention_heads),
                max_position_embeddings=config.max_position_embeddings,
                base=config.rope_theta)
            if config.rope_scaling is None:
                self.rotary_emb = RotaryEmbedding(**kwargs)
            else:
                kwargs.update(scaling_factor=config.rope_scaling["factor"])
                scaling_type = config.rope_scaling["type"]
                if scaling_type == "ntk":
                    kwargs.update(mixed_b=config.rope_scaling.get("mixed_b", None))
                    self.rotary_emb = NTKScalingRotaryEmbedding(**kwargs)
                else:
                    raise ValueError(f"Unknown RoPE scaling type {scaling_type}")

        def forward(self, unpad_inputs, input_ids=None, attention_mask=None, length=None, token_type_ids=None,
                    position_ids=None, inputs_embeds=None):
            if inputs_embeds is None:
                device, input_shape = input_ids.device, input_ids.shape
            else:
                device, input_shape = inputs_embeds.device, inputs_embeds.shape[:2]
            batch_size, seq_length = input_shape
            if attention_mask is None:
                attention_mask = torch.ones(input_shape, device=device)
                if length is not None:
                    for i, l in enumerate(length):
                        attention_mask[i, l:] = 0
            if unpad_inputs:
                attention_mask_bool = attention_mask.bool()
                if length is None:
                    length = attention_mask.sum(-1).tolist()
            if inputs_embeds is None:
                if unpad_inputs:
                    input_ids = input_ids[attention_mask_bool].unsqueeze(0)
                inputs_embeds = self.word_embeddings(input_ids)
            else:
                if unpad_inputs:
                    inputs_embeds = inputs_embeds[attention_mask_bool].unsqueeze(0)
            embeddings = inputs_embeds
            if position_ids is None:
                if seq_length > self.position_ids.size(0):
                    self.register_buffer("position_ids", torch.arange(seq_length), persistent=False)
                if unpad_inputs:
                    position_ids = torch.cat([self.position_ids[:l] for l in length]).unsqueeze(0)
                else:
                    position_ids = self.position_ids[:seq_length].expand(batch_size, -1)
            elif unpad_inputs:
                position_ids = position_ids[attention_mask_bool].unsqueeze(0)
            if self.position_embedding_type == "rope":
                rope_cos, rope_sin = self.rotary_emb(inputs_embeds, seq_len=seq_length)
                rope_cos = rope_cos[position_ids].unsqueeze(2)  # [bs, seq_len, 1, dim]
                rope_sin = rope_sin[position_ids].unsqueeze(2)  # [bs, seq_len, 1, dim]
                rope_embeds = rope_cos, rope_sin
            else:
                rope_embeds = None
            if self.type_vocab_size > 0:
                if token_type_ids is None:
                    token_type_ids = position_ids.mul(0)
                elif unpad_inputs:
                    token_type_ids = token_type_ids[attention_mask_bool].unsqueeze(0)
                token_type_embeddings = self.token_type_embeddings(token_type_ids)
                embeddings += token_type_embeddings
            if self.position_embedding_type == "absolute":
                position_embeddings = self.position_embeddings(position_ids)
                embeddings += position_embeddings
            embeddings = self.LayerNorm(embeddings)
            embeddings = self.dropout(embeddings)
            return embeddings, attention_mask, rope_embeds, length

    class NewAttention(nn.Module):
        def __init__(self, config, pack_qkv=None, use_memory_efficient_attention=None):
            super().__init__()
            self.config = config
            if config.hidden_size % config.num_attention_heads != 0 and not hasattr(config, "embedding_size"):
                raise ValueError("hidden_size is not a multiple of num_attention_heads")
            self.hidden_size = config.hidden_size
            self.num_attention_heads = config.num_attention_heads
            self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
            self.all_head_size = self.num_attention_heads * self.attention_head_size
            if pack_qkv is None:
                pack_qkv = config.pack_qkv
            self.pack_qkv = pack_qkv
            if self.pack_qkv:
                self.qkv_proj = nn.Linear(config.hidden_size, self.all_head_size * 3, bias=True)
            else:
                self.q_proj = nn.Linear(config.hidden_size, self.all_head_size, bias=True)
                self.k_proj = nn.Linear(config.hidden_size, self.all_head_size, bias=True)
                self.v_proj = nn.Linear(config.hidden_size, self.all_head_size, bias=True)
            self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
            self.o_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=True)
            if use_memory_efficient_attention is None:
                use_memory_efficient_attention = self.config.use_memory_efficient_attention
            self.use_memory_efficient_attention = use_memory_efficient_attention
            assert not self.use_memory_efficient_attention, "xformers is not transcribed"

        def forward(self, hidden_states, attention_bias, rope_embeds=None, attention_scale=None, head_mask=None,
                    output_attentions=False, qkv_inputs=None, padding_inputs=None):
            shape_hd = (self.num_attention_heads, self.attention_head_size)
            if self.pack_qkv and qkv_inputs is None:
                qkv_pack = self.qkv_proj(hidden_states).split(self.all_head_size, dim=-1)
            else:
                if qkv_inputs is None:
                    qkv_inputs = (hidden_states, hidden_states, hidden_states)
                qkv_pack = [getattr(self, n + "_proj")(s) for s, n in zip(qkv_inputs, "qkv")]
            query_states, key_states, value_states = [t.view(t.shape[:-1] + shape_hd) for t in qkv_pack]
            if self.config.position_embedding_type == "rope":
                query_states, key_states = apply_rotary_pos_emb(query_states, key_states, *rope_embeds)
            dtype = query_states.dtype
            if self.config.logn_attention_scale and attention_scale is not None:
                query_states = query_states * attention_scale.to(dtype)
            assert padding_inputs is None
            context_layer = self._attention(query_states, key_states, value_states, attention_bias, head_mask)
            new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
            context_layer = context_layer.view(new_context_layer_shape)
            attn_output = self.o_proj(context_layer)
            return (attn_output,)

        def _attention(self, query_states, key_states, value_states, attention_bias, head_mask):
            query_states = query_states.transpose(1, 2)
            key_states = key_states.transpose(1, 2)
            value_states = value_states.transpose(1, 2)
            attention_scores = torch.matmul(query_states, key_states.transpose(-1, -2))
            attention_scores = attention_scores / math.sqrt(self.attention_head_size)
            if attention_bias is not None:
                attention_scores = attention_scores + attention_bias
            attention_probs = nn.functional.softmax(attention_scores, dim=-1)
            attention_probs = self.dropout(attention_probs)
            if head_mask is not None:
                attention_probs = attention_probs * head_mask
            context_layer = torch.matmul(attention_probs, value_states)
            context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
            return context_layer

    class NewGatedMLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.intermediate_size = config.intermediate_size
            self.up_gate_proj = nn.Linear(config.hidden_size, self.intermediate_size * 2, bias=False)
            self.down_proj = nn.Linear(self.intermediate_size, config.hidden_size, bias=True)
            self.act_fn = ACT2FN[config.hidden_act]()
            if config.hidden_dropout_prob > 0:
                self.hidden_dropout = nn.Dropout(config.hidden_dropout_prob)
            else:
                self.hidden_dropout = None

        def forward(self, hidden_states):
            up_gate = self.up_gate_proj(hidden_states)
            up_states, gate = torch.split(up_gate, self.intermediate_size, dim=-1)
            gate = self.act_fn(gate)
            gated_states = gate * up_states
            if self.hidden_dropout is not None:
                gated_states = self.hidden_dropout(gated_states)
            down_states = self.down_proj(gated_states)
            return down_states

    class NewLayer(nn.Module):
        def __init__(self, config, pack_qkv=None, use_memory_efficient_attention=None, attn_implementation=None):
            super().__init__()
            if attn_implementation is None:
                attn_implementation = config._attn_implementation
            assert attn_implementation == "eager"  # NEW_ATTENTION_CLASSES["eager"]
            self.attention = NewAttention(
                config, pack_qkv=pack_qkv, use_memory_efficient_attention=use_memory_efficient_attention)
            self.mlp = NewGatedMLP(config)
            ln_class = nn.LayerNorm  # LAYER_NORM[config.layer_norm_type]
            self.attn_ln = ln_class(config.hidden_size, eps=config.layer_norm_eps)
            self.mlp_ln = ln_class(config.hidden_size, eps=config.layer_norm_eps)
            if config.hidden_dropout_prob > 0:
                self.hidden_dropout = nn.Dropout(config.hidden_dropout_prob)
            else:
                self.hidden_dropout = None

        def forward(self, hidden_states, attention_bias, rope_embeds=None, attention_scale=None,
                    subset_indices=None, head_mask=None, output_attentions=False, qkv_inputs=None,
                    padding_inputs=None):
            residual = hidden_states if qkv_inputs is None else qkv_inputs[0]
            attention_outputs = self.attention(
                hidden_states, attention_bias, rope_embeds, attention_scale, head_mask,
                output_attentions=output_attentions, qkv_inputs=qkv_inputs, padding_inputs=padding_inputs)
            hidden_states = attention_outputs[0]
            if self.hidden_dropout is not None:
                hidden_states = self.hidden_dropout(hidden_states)
            hidden_states = residual + hidden_states
            if subset_indices is not None:
                hidden_states = hidden_states[subset_indices]
            hidden_states = self.attn_ln(hidden_states)
            residual = hidden_states
            hidden_states = self.mlp(hidden_states)
            if self.hidden_dropout is not None:
                hidden_states = self.hidden_dropout(hidden_states)
            hidden_states = residual + hidden_states
            hidden_states = self.mlp_ln(hidden_states)
            return (hidden_states,) + attention_outputs[1:]

    class NewEncoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.layer = nn.ModuleList([NewLayer(config) for _ in range(config.num_hidden_layers)])

        def forward(self, hidden_states, attention_bias=None, rope_embeds=None, attention_scale=None,
                    subset_indices=None, head_mask=None):
            for i, layer_module in enumerate(self.layer):
                layer_subset_indices = subset_indices if i >= len(self.layer) - 1 else None
                layer_head_mask = head_mask[i] if head_mask is not None else None
                layer_outputs = layer_module(hidden_states, attention_bias, rope_embeds, attention_scale,
                                             layer_subset_indices, layer_head_mask, False)
                hidden_states = layer_outputs[0]
            return hidden_states

    class NewModel(nn.Module):
        def __init__(self, config, add_pooling_layer=False):
            super().__init__()
            assert not add_pooling_layer
            self.config = config
            self.embeddings = NewEmbeddings(config)
            self.encoder = NewEncoder(config)

        def get_extended_attention_mask(self, attention_mask, input_shape):
            # PreTrainedModel (ModuleUtilsMixin), an encoder: [B, 1, 1, S], min of the model dtype
            dtype = self.embeddings.LayerNorm.weight.dtype
            extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
            return (1.0 - extended_attention_mask) * torch.finfo(dtype).min

        def forward(self, input_ids=None, attention_mask=None, length=None, subset_indices=None,
                    token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None, unpad_inputs=None):
            unpad_inputs = unpad_inputs if unpad_inputs is not None else self.config.unpad_inputs
            assert not unpad_inputs  # xformers' BlockDiagonalMask is not transcribed
            input_shape = input_ids.size()
            (embedding_output, attention_mask, rope_embeds, length) = self.embeddings(
                unpad_inputs, input_ids=input_ids, attention_mask=attention_mask, length=length,
                token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds)
            batch_size, seq_length = input_shape
            attention_bias = self.get_extended_attention_mask(attention_mask, input_shape)
            if self.config.logn_attention_scale:
                attention_scale = attention_mask.sum(1).log() / torch.tensor(self.config.max_position_embeddings).log()
                if self.config.logn_attention_clip1:
                    attention_scale.clip_(1)
                attention_scale = attention_scale[:, None, None, None]
            else:
                attention_scale = None
            return self.encoder(embedding_output, attention_bias=attention_bias, rope_embeds=rope_embeds,
                                attention_scale=attention_scale, subset_indices=subset_indices, head_mask=head_mask)

    return NewModel(config).eval()


def check_gte_reference(cfg, weights, cases, seed):
    """Self-check of the GTE reference:
    - the literal transcription of the remote code (gte_hf_transcription, the fixture's weights
      loaded strictly: the names and shapes are exactly a NewModel's) on every case equals
      ref.forward: in float64 (the remote code's float32 rotary tables in both) within 1e-12, and run
      in float32 against the float64 reference within 1e-5 (every position, padding included);
    - the rotation (bert_reference's rotate-half helper on the GTE tables) against a naive loop
      rotating each pair (x_j, x_{j + d/2}) by its table angle; the float32 tables within 5e-5 of
      float64 cos / sin of p * (theta f)^(-2j / d) / f^(2 / d) (NTK) or p * theta^(-2j / d), and
      their two halves equal;
    - padding: every row of a padded case equals that sequence run alone.
    Returns {check: value}."""
    out = {}
    dev64, dev32 = transcription_deviation(
        gte_hf_transcription(cfg), cfg, weights, cases,
        lambda m, ids, mask, tt: m(input_ids=ids, attention_mask=mask, token_type_ids=tt))
    assert dev64 < 1e-12 and dev32 < 1e-5, (dev64, dev32)
    out["remote-code transcription float64"] = dev64
    out["remote-code transcription float32"] = dev32
    st = ref.gte_settings(cfg)
    d_, f_ = st["head_dim"], st["ntk_factor"]
    s_ = cfg["max_position_embeddings"]
    cos, sin = ref.gte_rotary(s_, d_, st["rope_theta"], f_, s_)
    assert torch.equal(cos[:, :d_ // 2], cos[:, d_ // 2:]) and torch.equal(sin[:, :d_ // 2], sin[:, d_ // 2:])
    theta = float(st["rope_theta"]) * (f_ or 1.0)
    inv64 = [theta ** (-2.0 * j / d_) / (f_ ** (2.0 / d_) if f_ else 1.0) for j in range(d_ // 2)]
    f32 = rotary_table_deviation(cos, sin, inv64)
    x = np.random.default_rng(seed).standard_normal((2, s_, 3, d_))
    got = ref.modernbert_apply_rope(torch.from_numpy(x), cos[:, None, :], sin[:, None, :]).numpy()
    worst = float(np.abs(got - naive_pair_rotation(x, cos, sin, d_)).max())
    assert worst < 1e-14 and f32 < 5e-5, (worst, f32)
    out["rotary vs naive loop"] = worst
    out["rotary float32 tables vs float64"] = f32
    worst = padded_rows_deviation(cfg, weights, cases)
    assert worst < 1e-12, worst
    out["padded rows = unpadded runs"] = worst
    return out


def gte_probe_names(cfg):
    last = cfg["num_hidden_layers"] - 1
    names = ["embeddings.word_embeddings.weight", "embeddings.LayerNorm.bias",
             "encoder.layer.0.attention.qkv_proj.weight", "encoder.layer.0.attention.qkv_proj.bias",
             f"encoder.layer.{last}.attention.o_proj.weight", "encoder.layer.1.attention.o_proj.bias",
             "encoder.layer.0.attn_ln.weight", f"encoder.layer.{last}.mlp.up_gate_proj.weight",
             "encoder.layer.1.mlp.down_proj.weight", f"encoder.layer.{last}.mlp.down_proj.bias",
             f"encoder.layer.{last}.mlp_ln.weight"]
    if cfg["type_vocab_size"] > 0:
        names.insert(1, "embeddings.token_type_embeddings.weight")
    return names


def build_gte(out_dir, vocab_list, spec):
    build_rotary_family(out_dir, vocab_list, spec, "NewModel", "GTE", gte_config, GTE_VOCAB_MULTIPLE,
                        gte_weights, "max_position_embeddings", check_gte_reference, gte_probe_names)


def build_rotary_family(out_dir, vocab_list, spec, arch, label, make_config, vocab_multiple, make_weights_fn,
                        positions_key, check_reference, probe_names_of):
    """A NomicBERT / GTE fixture: config, weights, WordPiece files, make_cases' cases through the
    float64 reference (after the family's self-check), reference.json."""
    name, seed, extra = spec
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    vocab = {t: i for i, t in enumerate(vocab_list)}
    cfg = make_config(len(vocab_list), **extra)
    assert cfg["vocab_size"] % vocab_multiple == 0 and cfg["vocab_size"] > len(vocab_list)
    rng = np.random.default_rng(seed)
    weights = make_weights_fn(rng, cfg)
    meta = {"format": "pt", "generator": "sparq tools/make_fixtures.py", "seed": str(seed)}
    ref.write_safetensors(os.path.join(d, "model.safetensors"), weights, meta)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_wordpiece_files(d, vocab_list, cfg[positions_key])
    loaded, loaded_dtypes, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    for k, v in weights.items():
        assert np.array_equal(loaded[k], v), k
    # make_cases' ids come from the tokenizer's vocabulary (not the padded rows), its random case
    # fills the positions.
    cases = make_cases(vocab, np.random.default_rng(1000 + seed),
                       dict(cfg, vocab_size=len(vocab_list), max_position_embeddings=cfg[positions_key]))
    t0 = __import__("time").time()
    checks = check_reference(cfg, loaded, cases, seed)
    check_s = __import__("time").time() - t0
    max_f32_dev = reference_outputs(cfg, loaded, cases)
    probe_names = probe_names_of(cfg)
    doc = {
        "model": name,
        "architecture": arch,
        "weights_dtype": "F32",
        "computed_in": "float64 (stored rounded to float32); rotary cos / sin tables in float32 as the remote code",
        "max_abs_dev_torch_float32": max_f32_dev,
        "outputs_note": "last_hidden_state is [B][S][H] for every position incl. padding; only positions "
                        "with attention_mask 1 are meaningful",
        "probes": probes(loaded, loaded_dtypes, probe_names, np.random.default_rng(seed + 7)),
        "cases": cases,
    }
    write_reference(d, doc, name, arch, "F32", len(weights), max_f32_dev)
    print(f"  {label} reference self-check ({check_s:.2f} s): " +
          ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))


# JinaBERT (jinaai/jina-embeddings-v2-small-en / -base-en, jina-reranker-v1-*; remote code
# modeling_bert.py / configuration_bert.py of jinaai/jina-bert-implementation, model_type "bert" with
# position_embedding_type "alibi" and feed_forward_type "geglu"): tiny_jina is a JinaBertModel (names
# without prefix, BERT's pooler), tiny_jina_cls a JinaBertForSequenceClassification (jina-reranker-v1:
# "bert." prefix, classifier at the top level), both with the published configs' keys and switches,
# hidden_size 48 and 6 heads: not a power of two, so the slopes take the ALiBi paper's interleaving
# branch ([2^-2, 2^-4, 2^-6, 2^-8] then [2^-1, 2^-3]). The vocabulary is build_vocab()'s (no padded
# rows). tiny_jina_code is the qk-post-norm variant (jinaai/jina-embeddings-v2-base-code, remote code
# jinaai/jina-bert-v2-qk-post-norm, told apart only by its auto_map): tiny_jina's settings, no prefix,
# with BERT's pooler.
JINA_HIDDEN, JINA_HEADS, JINA_INTER = 48, 6, 64
JINA_AUTO_MAP = {
    "AutoConfig": "jinaai/jina-bert-implementation--configuration_bert.JinaBertConfig",
    "AutoModel": "jinaai/jina-bert-implementation--modeling_bert.JinaBertModel",
    "AutoModelForMaskedLM": "jinaai/jina-bert-implementation--modeling_bert.JinaBertForMaskedLM",
    "AutoModelForSequenceClassification":
        "jinaai/jina-bert-implementation--modeling_bert.JinaBertForSequenceClassification",
}
JINA_QK_AUTO_MAP = {k: v.replace("jinaai/jina-bert-implementation--", "jinaai/jina-bert-v2-qk-post-norm--")
                    for k, v in JINA_AUTO_MAP.items()}
JINA_MODELS = [
    # name, architecture, prefix, seed, extra config
    ("tiny_jina", "JinaBertModel", "", 71, {}),
    ("tiny_jina_cls", "JinaBertForSequenceClassification", "bert.", 72,
     {"id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1}}),
    ("tiny_jina_code", "JinaBertModel", "", 73, {"auto_map": JINA_QK_AUTO_MAP}),
]
# 62 tokens: ALiBi distances past what the strong heads (slopes 1/2, 1/4) let through.
JINA_LONG = ("long", ("i did not like this film at all , it was really boring and too long . john and mary went "
                      "to paris after the show , but she thought the old city was wonderful and the people were "
                      "really nice to them . later that night they watched a funny game with their friends at "
                      "home .", None))


def jina_config(vocab_size, arch, **extra):
    """jina-embeddings-v2-small-en's config.json (its keys) with the tiny sizes: hidden_size 48,
    6 heads, 2 layers, intermediate_size 64, max_position_embeddings MAX_POS, vocab_size the
    WordPiece vocabulary's."""
    cfg = {"architectures": [arch], "attention_probs_dropout_prob": 0.0, "attn_implementation": "torch",
           "auto_map": dict(JINA_AUTO_MAP), "classifier_dropout": None, "emb_pooler": "mean",
           "feed_forward_type": "geglu", "gradient_checkpointing": False, "hidden_act": "gelu",
           "hidden_dropout_prob": 0.1, "hidden_size": JINA_HIDDEN, "initializer_range": 0.02,
           "intermediate_size": JINA_INTER, "layer_norm_eps": 1e-12, "max_position_embeddings": MAX_POS,
           "model_type": "bert", "num_attention_heads": JINA_HEADS, "num_hidden_layers": LAYERS, "pad_token_id": 0,
           "position_embedding_type": "alibi", "torch_dtype": "float32", "transformers_version": "4.26.0",
           "type_vocab_size": TYPE_VOCAB, "use_cache": True, "vocab_size": vocab_size}
    cfg.update(extra)
    return dict(sorted(cfg.items()))


def jina_weights(rng, cfg, prefix, head):
    """make_weights' scales (weight_makers, as nomic_weights) under JinaBERT's names (`prefix` on
    the encoder and pooler): attention.self.query / key at the query / key scales ([0.10, 0.25]),
    value, attention.output.dense and mlp.wo at the output ones ([0.02, 0.05]), mlp.gated_layers =
    [gated; non-gated] (no bias), each half at the intermediate scale ([0.10, 0.20]), pooler.dense at
    [0.10, 0.20], the classifier (head "classifier", top level) at [0.15, 0.25]; ~1% x4 outliers per
    matrix; word embeddings N(0, 0.05), token types N(0, 0.03); biases N(0, 0.05); LayerNorm gamma
    N(1, 0.05), beta N(0, 0.02). The qk-post-norm variant (ref.jina_is_qk_post_norm) also has
    attention.self.layer_norm_q / layer_norm_k after value (gamma N(1, 0.2), beta N(0, 0.1): with
    ln()'s spread a loader ignoring them moved last_hidden_state by only ~3e-3) and layer_norm_1 after
    attention.output.LayerNorm, and mlp.up_gated_layer = [up; gated] (no bias), mlp.down_layer,
    layer_norm_2 in place of mlp.gated_layers, mlp.wo, mlp.layernorm (same scales)."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    qk_post_norm = ref.jina_is_qk_post_norm(cfg)
    w = {}
    normal, matrix, linear, ln = weight_makers(rng, w, h)
    p = prefix
    w[p + "embeddings.word_embeddings.weight"] = normal((cfg["vocab_size"], h), 0.05)
    w[p + "embeddings.token_type_embeddings.weight"] = normal((cfg["type_vocab_size"], h), 0.03)
    ln(p + "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        lp = f"{p}encoder.layer.{i}."
        linear(lp + "attention.self.query", h, h, 0.10, 0.25, True)
        linear(lp + "attention.self.key", h, h, 0.10, 0.25, True)
        linear(lp + "attention.self.value", h, h, 0.02, 0.05, True)
        if qk_post_norm:  # wider than ln()'s: the attention path is diluted by layer_norm_1 / _2
            for n in ("attention.self.layer_norm_q", "attention.self.layer_norm_k"):
                w[lp + n + ".weight"] = (1.0 + rng.standard_normal(h) * 0.2).astype(np.float32)
                w[lp + n + ".bias"] = normal((h,), 0.1)
        linear(lp + "attention.output.dense", h, h, 0.02, 0.05, True)
        ln(lp + "attention.output.LayerNorm")
        if qk_post_norm:
            ln(lp + "layer_norm_1")
            w[lp + "mlp.up_gated_layer.weight"] = np.concatenate([matrix(inter, h, 0.10, 0.20),
                                                                 matrix(inter, h, 0.10, 0.20)])
            linear(lp + "mlp.down_layer", h, inter, 0.02, 0.05, True)
            ln(lp + "layer_norm_2")
            continue
        w[lp + "mlp.gated_layers.weight"] = np.concatenate([matrix(inter, h, 0.10, 0.20),
                                                            matrix(inter, h, 0.10, 0.20)])
        linear(lp + "mlp.wo", h, inter, 0.02, 0.05, True)
        ln(lp + "mlp.layernorm")
    linear(p + "pooler.dense", h, h, 0.10, 0.20, True)
    if head == "classifier":
        linear("classifier", len(cfg["id2label"]), h, 0.15, 0.25, True)
    return w


def jina_cases(vocab, rng, cfg):
    """make_cases' (batch3_padded, len1_cls, len2_empty, sentence, pair, len128_random) plus `long`
    (JINA_LONG, 62 tokens) and `batch3_long_padded` (long, QA_BATCH's 7-token sentence and
    PAIR_CASE's pair with type ids 1, padded with [PAD] = 0 to long's length)."""
    cases = make_cases(vocab, rng, cfg)
    for name, texts in ((JINA_LONG[0], [JINA_LONG[1]]),
                        ("batch3_long_padded", [JINA_LONG[1], QA_BATCH[0], PAIR_CASE[1]])):
        encs = [ref.encode(t, vocab, p) for t, p in texts]
        seq = max(len(e[1]) for e in encs)
        cases.append({"name": name, "texts": [[t, p] for t, p in texts], "tokens": [e[0] for e in encs],
                      "input_ids": [e[1] + [vocab["[PAD]"]] * (seq - len(e[1])) for e in encs],
                      "attention_mask": [[1] * len(e[1]) + [0] * (seq - len(e[1])) for e in encs],
                      "token_type_ids": [e[2] + [0] * (seq - len(e[1])) for e in encs]})
    return cases


# What both JinaBERT remote codes (jina-bert-implementation and jina-bert-v2-qk-post-norm) have the
# same, for their transcriptions below: JinaBertConfig's defaults, the body of
# JinaBertEncoder.rebuild_alibi_tensor (the ALiBi paper's slopes, the [1, heads, size, size] bias),
# and the BertSelfOutput / BertPooler they reuse (as JinaBertSelfOutput / JinaBertPooler).
JINA_CONFIG_DEFAULTS = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=512,
    type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0,
    position_embedding_type="absolute", use_cache=True, classifier_dropout=None, feed_forward_type="original",
    emb_pooler=None, attn_implementation="torch", is_decoder=False, add_cross_attention=False,
    chunk_size_feed_forward=0, id2label={"0": "LABEL_0", "1": "LABEL_1"})


def jina_remote_alibi(n_heads, size, device=None):
    # Alibi
    # Following https://github.com/ofirpress/attention_with_linear_biases/issues/5 (Implementation 1)
    # In the causal case, you can exploit the fact that softmax is invariant to a uniform translation
    # of the logits, which makes the math work out *after* applying causal masking. If no causal masking
    # will be applied, it is necessary to construct the diagonal mask.
    def _get_alibi_head_slopes(n_heads):
        def get_slopes_power_of_2(n):
            start = 2 ** (-(2 ** -(math.log2(n) - 3)))
            ratio = start
            return [start * ratio**i for i in range(n)]

        if math.log2(n_heads).is_integer():
            return get_slopes_power_of_2(n_heads)  # In the paper, we only train models that have 2^a heads
        else:  # for some a. This function has some good properties that only occur when the input is a
            # power of 2. To maintain that even when the number of heads is not a power of 2, we use
            # this workaround.
            closest_power_of_2 = 2 ** math.floor(math.log2(n_heads))
            return (get_slopes_power_of_2(closest_power_of_2)
                    + _get_alibi_head_slopes(2 * closest_power_of_2)[0::2][: n_heads - closest_power_of_2])

    context_position = torch.arange(size, device=device)[:, None]
    memory_position = torch.arange(size, device=device)[None, :]
    relative_position = torch.abs(memory_position - context_position)
    # [n_heads, max_token_length, max_token_length]
    relative_position = relative_position.unsqueeze(0).expand(n_heads, -1, -1)
    slopes = torch.Tensor(_get_alibi_head_slopes(n_heads)).to(device) * -1
    alibi = slopes.unsqueeze(1).unsqueeze(1) * relative_position
    # [1, n_heads, max_token_length, max_token_length]
    alibi = alibi.unsqueeze(0)
    assert alibi.shape == torch.Size([1, n_heads, size, size])
    return alibi


class JinaBertSelfOutput(torch.nn.Module):  # BertSelfOutput
    def __init__(self, config):
        super().__init__()
        self.dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = torch.nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        hidden_states = self.dense(hidden_states)
        hidden_states = self.dropout(hidden_states)
        hidden_states = self.LayerNorm(hidden_states + input_tensor)
        return hidden_states


class JinaBertPooler(torch.nn.Module):  # BertPooler (the qk-post-norm port has none: mean pooling)
    def __init__(self, config):
        super().__init__()
        self.dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = torch.nn.Tanh()

    def forward(self, hidden_states):
        # We "pool" the model by simply taking the hidden state corresponding to the first token.
        first_token_tensor = hidden_states[:, 0]
        pooled_output = self.dense(first_token_tensor)
        pooled_output = self.activation(pooled_output)
        return pooled_output


def jina_hf_transcription(cfg):
    """A literal transcription of jinaai/jina-bert-implementation's modeling_bert.py inference path
    (JinaBertModel with its pooler, JinaBertForSequenceClassification; eval mode, encoder only: no
    KV cache, cross-attention, head_mask or relative_key branches) as nn.Modules, with the remote
    code's class and attribute names so a Hugging Face state dict loads into it (strict); the config
    is JinaBertConfig's defaults updated by cfg; BertSelfOutput / BertPooler (which the remote code
    reuses) and PreTrainedModel.get_extended_attention_mask written out. The SDPA branch
    (attn_implementation "torch") is kept as the remote code has it and taken when torch has
    scaled_dot_product_attention (not 1.13: the eager path runs). Independent of bert_reference.py
    (shares no code with it)."""
    import types
    import torch.nn as nn

    config = types.SimpleNamespace(**dict(JINA_CONFIG_DEFAULTS, **cfg))
    config.num_labels = len(config.id2label)
    # try: from torch.nn.functional import scaled_dot_product_attention; except ImportError: None
    scaled_dot_product_attention = getattr(nn.functional, "scaled_dot_product_attention", None)
    assert config.position_embedding_type == "alibi" and not config.is_decoder

    class JinaBertEmbeddings(nn.Module):
        """Construct the embeddings from word, position and token_type embeddings."""

        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            if config.position_embedding_type != "alibi":
                self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.position_embedding_type = getattr(config, "position_embedding_type", "absolute")
            self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                                 persistent=False)
            self.register_buffer("token_type_ids", torch.zeros(self.position_ids.size(), dtype=torch.long),
                                 persistent=False)

        def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                    past_key_values_length=0):
            input_shape = input_ids.size() if input_ids is not None else inputs_embeds.size()[:-1]
            seq_length = input_shape[1]
            if position_ids is None:
                position_ids = self.position_ids[:, past_key_values_length: seq_length + past_key_values_length]
            if token_type_ids is None:
                buffered_token_type_ids = self.token_type_ids[:, :seq_length]
                token_type_ids = buffered_token_type_ids.expand(input_shape[0], seq_length)
            if inputs_embeds is None:
                inputs_embeds = self.word_embeddings(input_ids)
            token_type_embeddings = self.token_type_embeddings(token_type_ids)
            embeddings = inputs_embeds + token_type_embeddings
            if self.position_embedding_type == "absolute":
                position_embeddings = self.position_embeddings(position_ids)
                embeddings += position_embeddings
            embeddings = self.LayerNorm(embeddings)
            embeddings = self.dropout(embeddings)
            return embeddings

    class JinaBertSelfAttention(nn.Module):
        def __init__(self, config, position_embedding_type=None):
            super().__init__()
            if config.hidden_size % config.num_attention_heads != 0 and not hasattr(config, "embedding_size"):
                raise ValueError("The hidden size is not a multiple of the number of attention heads")
            self.attn_implementation = config.attn_implementation
            self.num_attention_heads = config.num_attention_heads
            self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
            self.all_head_size = self.num_attention_heads * self.attention_head_size
            self.query = nn.Linear(config.hidden_size, self.all_head_size)
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)
            self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
            self.position_embedding_type = position_embedding_type or getattr(
                config, "position_embedding_type", "absolute")
            self.is_decoder = config.is_decoder

        def transpose_for_scores(self, x):
            new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
            x = x.view(new_x_shape)
            return x.permute(0, 2, 1, 3)

        def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                    encoder_attention_mask=None, past_key_value=None, output_attentions=False, bias=None):
            mixed_query_layer = self.query(hidden_states)
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
            query_layer = self.transpose_for_scores(mixed_query_layer)
            if self.attn_implementation == "torch" and scaled_dot_product_attention is not None:
                b, _, s, _ = query_layer.shape
                new_bias = attention_mask + bias
                attn = scaled_dot_product_attention(query_layer, key_layer, value_layer, new_bias)
                attn = attn.permute(0, 2, 1, 3).contiguous()
                return (attn.view(b, s, self.all_head_size),)
            # Take the dot product between "query" and "key" to get the raw attention scores.
            attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
            attention_scores = attention_scores / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                # Apply the attention mask is (precomputed for all layers in BertModel forward() function)
                attention_scores = attention_scores + attention_mask
            # Normalize the attention scores to probabilities.
            attention_probs = nn.functional.softmax(attention_scores + bias, dim=-1)
            attention_probs = self.dropout(attention_probs)
            if head_mask is not None:
                attention_probs = attention_probs * head_mask
            context_layer = torch.matmul(attention_probs, value_layer)
            context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
            new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
            context_layer = context_layer.view(new_context_layer_shape)
            return (context_layer, attention_probs) if output_attentions else (context_layer,)

    class JinaBertAttention(nn.Module):
        def __init__(self, config, position_embedding_type=None):
            super().__init__()
            self.self = JinaBertSelfAttention(config, position_embedding_type=position_embedding_type)
            self.output = JinaBertSelfOutput(config)
            self.pruned_heads = set()

        def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                    encoder_attention_mask=None, past_key_value=None, output_attentions=False, bias=None):
            self_outputs = self.self(hidden_states, attention_mask, head_mask, encoder_hidden_states,
                                     encoder_attention_mask, past_key_value, output_attentions, bias)
            attention_output = self.output(self_outputs[0], hidden_states)
            outputs = (attention_output,) + self_outputs[1:]  # add attentions if we output them
            return outputs

    class JinaBertGLUMLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.gated_layers = nn.Linear(config.hidden_size, config.intermediate_size * 2, bias=False)
            if config.feed_forward_type == "reglu":
                self.act = nn.ReLU()
            elif config.feed_forward_type == "geglu":
                self.act = nn.GELU()
            else:
                raise ValueError(f"feed_forward_type {config.feed_forward_type} not supported")
            self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

        def forward(self, hidden_states):
            residual_connection = hidden_states
            # compute the activation
            hidden_states = self.gated_layers(hidden_states)
            gated = hidden_states[:, :, : self.config.intermediate_size]
            non_gated = hidden_states[:, :, self.config.intermediate_size:]
            hidden_states = self.act(gated) * non_gated
            hidden_states = self.dropout(hidden_states)
            # multiply by the second matrix
            hidden_states = self.wo(hidden_states)
            # add the residual connection and post-LN
            hidden_states = self.layernorm(hidden_states + residual_connection)
            return hidden_states

    class JinaBertLayer(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.chunk_size_feed_forward = config.chunk_size_feed_forward
            self.seq_len_dim = 1
            self.attention = JinaBertAttention(config)
            self.is_decoder = config.is_decoder
            self.add_cross_attention = config.add_cross_attention
            self.feed_forward_type = config.feed_forward_type
            assert self.feed_forward_type.endswith("glu")  # JinaBertIntermediate / JinaBertOutput left out
            self.mlp = JinaBertGLUMLP(config)

        def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                    encoder_attention_mask=None, past_key_value=None, output_attentions=False, bias=None):
            self_attn_past_key_value = past_key_value[:2] if past_key_value is not None else None
            self_attention_outputs = self.attention(hidden_states, attention_mask, head_mask,
                                                    output_attentions=output_attentions,
                                                    past_key_value=self_attn_past_key_value, bias=bias)
            attention_output = self_attention_outputs[0]
            outputs = self_attention_outputs[1:]  # add self attentions if we output attention weights
            if self.feed_forward_type.endswith("glu"):
                layer_output = self.mlp(attention_output)
            outputs = (layer_output,) + outputs
            return outputs

    class JinaBertEncoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.layer = nn.ModuleList([JinaBertLayer(config) for _ in range(config.num_hidden_layers)])
            self.gradient_checkpointing = False
            self.num_attention_heads = config.num_attention_heads
            self.register_buffer("alibi", self.rebuild_alibi_tensor(size=config.max_position_embeddings),
                                 persistent=False)

        def rebuild_alibi_tensor(self, size, device=None):
            alibi = jina_remote_alibi(self.num_attention_heads, size, device)
            self._current_alibi_size = size
            return alibi

        def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                    encoder_attention_mask=None, past_key_values=None, use_cache=None, output_attentions=False):
            # Add alibi matrix to extended_attention_mask
            _, seqlen, _ = hidden_states.size()
            if self._current_alibi_size < seqlen:
                # Rebuild the alibi tensor when needed
                self.register_buffer("alibi", self.rebuild_alibi_tensor(size=seqlen, device=hidden_states.device)
                                     .to(hidden_states.dtype), persistent=False)
            elif self.alibi.device != hidden_states.device:
                # Device catch-up
                self.alibi = self.alibi.to(hidden_states.device)
            alibi_bias = self.alibi[:, :, :seqlen, :seqlen]
            for i, layer_module in enumerate(self.layer):
                layer_head_mask = head_mask[i] if head_mask is not None else None
                past_key_value = past_key_values[i] if past_key_values is not None else None
                layer_outputs = layer_module(hidden_states, attention_mask, layer_head_mask, encoder_hidden_states,
                                             encoder_attention_mask, past_key_value, output_attentions,
                                             bias=alibi_bias)
                hidden_states = layer_outputs[0]
            return (hidden_states,)

    class JinaBertModel(nn.Module):
        def __init__(self, config, add_pooling_layer=True):
            super().__init__()
            self.config = config
            self.emb_pooler = config.emb_pooler
            self.embeddings = JinaBertEmbeddings(config)
            self.encoder = JinaBertEncoder(config)
            self.pooler = JinaBertPooler(config) if add_pooling_layer else None

        def get_extended_attention_mask(self, attention_mask, input_shape):
            # PreTrainedModel (ModuleUtilsMixin), an encoder: [B, 1, 1, S], min of the model dtype
            dtype = self.embeddings.LayerNorm.weight.dtype
            extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
            return (1.0 - extended_attention_mask) * torch.finfo(dtype).min

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                    head_mask=None, inputs_embeds=None):
            input_shape = input_ids.size()
            batch_size, seq_length = input_shape
            if attention_mask is None:
                attention_mask = torch.ones((batch_size, seq_length))
            if token_type_ids is None:
                buffered_token_type_ids = self.embeddings.token_type_ids[:, :seq_length]
                token_type_ids = buffered_token_type_ids.expand(batch_size, seq_length)
            extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_shape)
            embedding_output = self.embeddings(input_ids=input_ids, position_ids=position_ids,
                                               token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
            encoder_outputs = self.encoder(embedding_output, attention_mask=extended_attention_mask,
                                           head_mask=head_mask)
            sequence_output = encoder_outputs[0]
            pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
            return (sequence_output, pooled_output) + encoder_outputs[1:]

    class JinaBertForSequenceClassification(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.num_labels = config.num_labels
            self.config = config
            self.bert = JinaBertModel(config)
            classifier_dropout = (config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
            self.dropout = nn.Dropout(classifier_dropout)
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                    head_mask=None, inputs_embeds=None):
            outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds)
            pooled_output = outputs[1]
            pooled_output = self.dropout(pooled_output)
            logits = self.classifier(pooled_output)
            return (logits,) + outputs[2:]

    arch = (cfg.get("architectures") or ["JinaBertModel"])[0]
    model = JinaBertForSequenceClassification(config) if arch == "JinaBertForSequenceClassification" \
        else JinaBertModel(config)
    return model.eval()


def run_jina_transcription(model, ids, mask, tt):
    """The transcription's outputs under ref.forward's names."""
    if hasattr(model, "bert"):  # JinaBertForSequenceClassification
        hidden, pooled = model.bert(ids, attention_mask=mask, token_type_ids=tt)
        logits = model(ids, attention_mask=mask, token_type_ids=tt)[0]
        return {"last_hidden_state": hidden, "pooler_output": pooled, "logits": logits}
    hidden, pooled = model(ids, attention_mask=mask, token_type_ids=tt)
    return {"last_hidden_state": hidden, "pooler_output": pooled}


def check_jina_reference(cfg, weights, cases, seed):
    """Self-check of the JinaBERT reference:
    - the literal transcription of the remote code (jina_hf_transcription, the fixture's weights
      loaded strictly: the names and shapes are exactly a JinaBertModel's /
      JinaBertForSequenceClassification's) on every case equals ref.forward, every output
      (last_hidden_state, pooler_output, logits): in float64 within 1e-12, and run in float32
      against the float64 reference within 1e-5 (every position, padding included);
    - the slopes: 6 heads [2^-2, 2^-4, 2^-6, 2^-8, 2^-1, 2^-3], 12 heads (jina-embeddings-v2-base-en)
      slopes(8) + slopes(16)[0::2][:4], 8 heads (-small-en) 2^-1 .. 2^-8; the transcription's alibi
      buffer (float32, as the remote code builds it) equal to ref.jina_alibi in float32, and to the
      float64 one (this config's slopes are powers of two: exact); the float32 product's rounding
      against the float64 one for 12 heads over distances 0..8191 (negligible: ~2^-24 relative);
    - padding: every row of a padded case equals that sequence run alone (all outputs);
    - ALiBi matters: the transcription with its alibi buffer zeroed, or built from the naive slopes
      2^(-8(h + 1) / 6) (the power-of-two formula on 6 heads), differs from the reference by far more
      than any test tolerance (max |d| of last_hidden_state on the real tokens, and of pooler_output
      / logits); so does the reference with GELU on the other half of mlp.gated_layers.
    Returns {check: value}."""
    out = {}
    model = jina_hf_transcription(cfg)
    encoder = model.bert.encoder if hasattr(model, "bert") else model.encoder
    alibi32 = encoder.alibi.clone()
    dev64, dev32 = transcription_deviation(model, cfg, weights, cases, run_jina_transcription)
    assert dev64 < 1e-12 and dev32 < 1e-5, (dev64, dev32)
    out["remote-code transcription float64"] = dev64
    out["remote-code transcription float32"] = dev32
    # slopes
    p2 = [2.0 ** -(8.0 * (i + 1) / 8) for i in range(8)]
    assert ref.jina_alibi_slopes(6) == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]
    assert ref.jina_alibi_slopes(8) == p2
    p16 = [2.0 ** -(8.0 * (i + 1) / 16) for i in range(16)]
    assert np.allclose(ref.jina_alibi_slopes(16), p16, rtol=1e-14, atol=0)  # a few ulps: start * start**i
    assert ref.jina_alibi_slopes(12) == ref.jina_alibi_slopes(8) + ref.jina_alibi_slopes(16)[0::2][:4]
    assert np.allclose(ref.jina_alibi_slopes(12), p2 + p16[0::2][:4], rtol=1e-14, atol=0)
    # the remote code's float32 alibi buffer against the reference's tables
    heads, size = cfg["num_attention_heads"], cfg["max_position_embeddings"]
    assert alibi32.dtype == torch.float32 and alibi32.shape == (1, heads, size, size)
    assert torch.equal(alibi32[0], ref.jina_alibi(size, heads, torch.float32))
    d = float((alibi32[0].double() - ref.jina_alibi(size, heads)).abs().max())
    assert d == 0.0, d
    out["alibi buffer vs reference"] = d
    # float32 product rounding (jina-embeddings-v2-base-en's 12 heads, every distance of 8192 positions)
    s12 = torch.Tensor(ref.jina_alibi_slopes(12)) * -1
    dist = torch.arange(8192)
    a32 = (s12[:, None] * dist[None]).double()
    a64 = -torch.tensor(ref.jina_alibi_slopes(12), dtype=torch.float32).double()[:, None] * dist[None].double()
    rel = float(((a32 - a64).abs() / a64.abs().clamp(min=1e-300)).max())
    assert rel < 2 ** -23, rel
    out["alibi float32 product rounding (12 heads, distances < 8192): relative"] = rel
    out["absolute"] = float((a32 - a64).abs().max())
    worst = padded_rows_deviation(cfg, weights, cases)
    assert worst < 1e-12, worst
    out["padded rows = unpadded runs"] = worst
    # ALiBi off (a zero bias) and the naive slopes 2^(-8(h + 1) / heads) (the power-of-two formula
    # applied to 6 heads): the transcription with its alibi buffer replaced, against the reference.
    model.double()

    def deviation_with(alibi):
        encoder.alibi.copy_(alibi)
        dev_h = dev_seq = 0.0
        for c in cases:
            want = ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"])
            args = [torch.as_tensor(np.asarray(c[k], dtype=np.int64))
                    for k in ("input_ids", "attention_mask", "token_type_ids")]
            with torch.no_grad():
                got = run_jina_transcription(model, *args)
            mask = np.asarray(c["attention_mask"], dtype=bool)
            for k, v in got.items():
                dev = np.abs(v.numpy() - want[k])
                if k == "last_hidden_state":
                    dev_h = max(dev_h, float(dev[mask].max()))
                else:
                    dev_seq = max(dev_seq, float(dev.max()))
        return dev_h, dev_seq

    seq_outputs = "pooler / logits" if hasattr(model, "bert") else "pooler"
    off_h, off_seq = deviation_with(torch.zeros_like(encoder.alibi))
    assert off_h > 0.05 and off_seq > 0.01, (off_h, off_seq)
    out["ALiBi off: last_hidden_state max|d|"] = off_h
    out[f"ALiBi off: {seq_outputs} max|d|"] = off_seq
    naive = torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], dtype=torch.float64)
    pos = torch.arange(size)
    naive_h, naive_seq = deviation_with(-naive[:, None, None] * (pos[None, :] - pos[:, None]).abs()[None].double())
    assert naive_h > 0.01 and naive_seq > 0.002, (naive_h, naive_seq)
    out["naive slopes: last_hidden_state max|d|"] = naive_h
    out[f"naive slopes: {seq_outputs} max|d|"] = naive_seq
    # GELU on the wrong half of mlp.gated_layers (the other half-order convention): the reference on
    # the weights with the halves swapped.
    inter = cfg["intermediate_size"]
    swapped = {k: (np.concatenate([v[inter:], v[:inter]]) if k.endswith("mlp.gated_layers.weight") else v)
               for k, v in weights.items()}
    worst = 0.0
    for c in cases:
        args = (c["input_ids"], c["attention_mask"], c["token_type_ids"])
        a = ref.forward(cfg, weights, *args)["last_hidden_state"]
        b = ref.forward(cfg, swapped, *args)["last_hidden_state"]
        worst = max(worst, float(np.abs(a - b)[np.asarray(c["attention_mask"], dtype=bool)].max()))
    assert worst > 0.05, worst
    out["MLP halves swapped: last_hidden_state max|d|"] = worst
    return out


def jina_qk_transcription(cfg, mistake=None):
    """A transcription of the qk-post-norm JinaBERT (jinaai/jina-bert-v2-qk-post-norm's remote code,
    jina-embeddings-v2-base-code) as nn.Modules. The remote code itself is not at hand: this follows
    Hugging Face text-embeddings-inference's python port of it (backends/python/.../jinaBert_model.py:
    FlashJinaBert's JinaBertEmbeddings / JinaBertSelfAttention / JinaBertSelfOutput /
    JinaBertAttention / JinaBertGLUMLP / JinaBertLayer / JinaBertEncoder), with its tensor names as
    module attributes so a Hugging Face state dict loads into it (strict; the port's
    `encoder.layers` list is named `layer`, as the tensors are), plus what the port leaves out:
    BertPooler and a JinaBertModel wrapper with get_extended_attention_mask, as jina-bert-implementation's
    (assumed the same in qk-post-norm; the port runs without a padding mask). Eval mode, encoder only.
    Independent of bert_reference.py (shares no code with it).

    `mistake` builds a deliberately wrong model, for the self-check's "does the fixture catch it":
    "no_qk_norm" (q, k without layer_norm_q / layer_norm_k), "no_layer_norm_1" (r = the attention
    output a, not layer_norm_1(x + a)), "gelu_first_half" (gelu(up) * gated: jina v2's half),
    "no_alibi" (a zero bias)."""
    import types
    import torch.nn as nn

    assert mistake in (None, "no_qk_norm", "no_layer_norm_1", "gelu_first_half", "no_alibi"), mistake
    # JinaBertConfig as the port has it (no SDPA switch)
    config = types.SimpleNamespace(**dict(dict(JINA_CONFIG_DEFAULTS, attn_implementation=None), **cfg))
    assert config.position_embedding_type == "alibi"

    class JinaBertEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.position_embedding_type = getattr(config, "position_embedding_type", "absolute")

        def forward(self, input_ids=None, token_type_ids=None, position_ids=None):
            inputs_embeds = self.word_embeddings(input_ids)
            token_type_embeddings = self.token_type_embeddings(token_type_ids)
            embeddings = inputs_embeds + token_type_embeddings
            assert self.position_embedding_type != "absolute"  # (no position table for alibi)
            embeddings = self.LayerNorm(embeddings)
            embeddings = self.dropout(embeddings)
            return embeddings

    class JinaBertSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            if config.hidden_size % config.num_attention_heads != 0:
                raise ValueError("The hidden size is not a multiple of the number of attention heads")
            self.config = config
            self.num_attention_heads = config.num_attention_heads
            self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
            self.all_head_size = self.num_attention_heads * self.attention_head_size
            self.query = nn.Linear(config.hidden_size, self.all_head_size)
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)
            self.layer_norm_q = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.layer_norm_k = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

        def transpose_for_scores(self, x):
            new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
            x = x.view(new_x_shape)
            return x.permute(0, 2, 1, 3)

        def forward(self, hidden_states, attention_mask=None, bias=None):
            q_hidden_states = self.query(hidden_states)
            mixed_query_layer = q_hidden_states if mistake == "no_qk_norm" else self.layer_norm_q(q_hidden_states)
            k_hidden_states = self.key(hidden_states)
            key_layer = self.transpose_for_scores(
                k_hidden_states if mistake == "no_qk_norm" else self.layer_norm_k(k_hidden_states))
            v_hidden_states = self.value(hidden_states)
            value_layer = self.transpose_for_scores(v_hidden_states)
            query_layer = self.transpose_for_scores(mixed_query_layer)
            # Take the dot product between "query" and "key" to get the raw attention scores.
            attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
            attention_scores = attention_scores / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                attention_scores = attention_scores + attention_mask
            # Normalize the attention scores to probabilities.
            attention_probs = nn.functional.softmax(attention_scores + bias, dim=-1)
            attention_probs = self.dropout(attention_probs)
            context_layer = torch.matmul(attention_probs, value_layer)
            context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
            new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
            context_layer = context_layer.view(new_context_layer_shape)
            return (context_layer,)

    class JinaBertAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.self = JinaBertSelfAttention(config)
            self.output = JinaBertSelfOutput(config)

        def forward(self, hidden_states, attention_mask=None, bias=None):
            self_outputs = self.self(hidden_states, attention_mask, bias)
            attention_output = self.output(self_outputs[0], hidden_states)
            return (attention_output,) + self_outputs[1:]

    class JinaBertGLUMLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            if config.feed_forward_type == "reglu":
                self.act = nn.ReLU()
            elif config.feed_forward_type == "geglu":
                self.act = nn.GELU()
            else:
                raise ValueError(f"feed_forward_type {config.feed_forward_type} not supported")
            self.up_gated_layer = nn.Linear(config.hidden_size, config.intermediate_size * 2, bias=False)
            self.down_layer = nn.Linear(config.intermediate_size, config.hidden_size)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, hidden_states):
            # Up with gate
            hidden_mlp_states = self.up_gated_layer(hidden_states)
            up = hidden_mlp_states[:, :, : self.config.intermediate_size]
            gated = hidden_mlp_states[:, :, self.config.intermediate_size:]
            if mistake == "gelu_first_half":
                hidden_mlp_states = self.act(up) * gated
            else:
                hidden_mlp_states = up * self.act(gated)
            hidden_mlp_states = self.dropout(hidden_mlp_states)
            # Down
            return self.down_layer(hidden_mlp_states)

    class JinaBertLayer(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.attention = JinaBertAttention(config)
            self.config = config
            self.feed_forward_type = config.feed_forward_type
            self.layer_norm_1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.layer_norm_2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            if self.feed_forward_type.endswith("glu"):
                self.mlp = JinaBertGLUMLP(config)
            else:
                raise ValueError(f"feed_forward_type {self.feed_forward_type} not supported")

        def forward(self, hidden_states, attention_mask=None, bias=None):
            # Pre-Norm
            residual = hidden_states
            self_attention_outputs = self.attention(hidden_states, attention_mask, bias=bias)
            attention_output = self_attention_outputs[0]
            outputs = self_attention_outputs[1:]
            if mistake == "no_layer_norm_1":
                residual = attention_output
            else:
                residual = self.layer_norm_1(residual + attention_output)
            mlp_output = self.mlp(residual)
            layer_output = self.layer_norm_2(residual + mlp_output)
            return (layer_output,) + outputs

    class JinaBertEncoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.layer = nn.ModuleList([JinaBertLayer(config) for _ in range(config.num_hidden_layers)])
            self.num_attention_heads = config.num_attention_heads

        def rebuild_alibi_tensor(self, size, device=None):
            alibi = jina_remote_alibi(self.num_attention_heads, size, device)
            self._current_alibi_size = size
            return alibi

        def forward(self, hidden_states, attention_mask=None):
            # Add alibi matrix to extended_attention_mask
            _, seqlen, _ = hidden_states.size()
            alibi_bias = self.rebuild_alibi_tensor(size=seqlen, device=hidden_states.device).to(hidden_states.dtype)
            if mistake == "no_alibi":
                alibi_bias = torch.zeros_like(alibi_bias)
            for i, layer_module in enumerate(self.layer):
                layer_outputs = layer_module(hidden_states, attention_mask, alibi_bias)
                hidden_states = layer_outputs[0]
            return hidden_states

    class JinaBertModel(nn.Module):  # the remote code's wrapper (FlashJinaBertModel + mask + pooler)
        def __init__(self, config, add_pooling_layer=True):
            super().__init__()
            self.config = config
            self.embeddings = JinaBertEmbeddings(config)
            self.encoder = JinaBertEncoder(config)
            self.pooler = JinaBertPooler(config) if add_pooling_layer else None

        def get_extended_attention_mask(self, attention_mask):
            # PreTrainedModel (ModuleUtilsMixin), an encoder: [B, 1, 1, S], min of the model dtype
            dtype = self.embeddings.LayerNorm.weight.dtype
            extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
            return (1.0 - extended_attention_mask) * torch.finfo(dtype).min

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None):
            extended_attention_mask = self.get_extended_attention_mask(attention_mask)
            embedding_output = self.embeddings(input_ids, token_type_ids, position_ids)
            sequence_output = self.encoder(embedding_output, extended_attention_mask)
            pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
            return sequence_output, pooled_output

    arch = (cfg.get("architectures") or ["JinaBertModel"])[0]
    assert arch == "JinaBertModel", arch
    return JinaBertModel(config).eval()


def check_jina_qk_reference(cfg, weights, cases):
    """Self-check of the reference's qk-post-norm JinaBERT branch (tiny_jina_code):
    - jina_qk_transcription (text-embeddings-inference's port of the remote code, which is not at
      hand; the fixture's weights loaded strictly: the names and shapes are exactly its modules')
      on every case equals ref.forward, last_hidden_state and pooler_output: in float64 within
      1e-12, run in float32 against the float64 reference within 1e-5 (every position, padding
      included); its per-forward alibi (float32, as it builds it) equals ref.jina_alibi over 128
      positions;
    - padding: every row of a padded case equals that sequence run alone;
    - the fixture catches the likely mistakes: the transcription without layer_norm_q /
      layer_norm_k, without layer_norm_1 (r = a), with GELU on the first half of
      mlp.up_gated_layer (jina v2's) or without ALiBi differs from the reference by > 1e-2
      (max |d| of last_hidden_state on the real tokens; pooler_output's printed too); and the
      reference with any one of layer_norm_q / _k / _1 / _2 replaced by an identity-affine one
      (gamma 1, beta 0: a loader skipping that tensor pair) by > 1e-3 (model_test's tolerance: 1e-4).
    Returns {check: value}."""
    out = {}
    model = jina_qk_transcription(cfg)
    dev64, dev32 = transcription_deviation(model, cfg, weights, cases, run_jina_transcription)
    assert dev64 < 1e-12 and dev32 < 1e-5, (dev64, dev32)
    out["TEI-port transcription float64"] = dev64
    out["TEI-port transcription float32"] = dev32
    heads, size = cfg["num_attention_heads"], cfg["max_position_embeddings"]
    alibi32 = model.encoder.rebuild_alibi_tensor(size)
    assert alibi32.dtype == torch.float32 and torch.equal(alibi32[0], ref.jina_alibi(size, heads, torch.float32))
    d = float((alibi32[0].double() - ref.jina_alibi(size, heads)).abs().max())
    assert d == 0.0, d
    out["alibi vs reference"] = d
    worst = padded_rows_deviation(cfg, weights, cases)
    assert worst < 1e-12, worst
    out["padded rows = unpadded runs"] = worst
    want = [ref.forward(cfg, weights, c["input_ids"], c["attention_mask"], c["token_type_ids"]) for c in cases]

    def deviation(outputs):  # max |d| of last_hidden_state (real tokens) and of pooler_output
        dev_h = dev_p = 0.0
        for c, w, got in zip(cases, want, outputs):
            mask = np.asarray(c["attention_mask"], dtype=bool)
            dev_h = max(dev_h, float(np.abs(got["last_hidden_state"] - w["last_hidden_state"])[mask].max()))
            dev_p = max(dev_p, float(np.abs(got["pooler_output"] - w["pooler_output"]).max()))
        return dev_h, dev_p

    for mistake in ("no_qk_norm", "no_layer_norm_1", "gelu_first_half", "no_alibi"):
        wrong = jina_qk_transcription(cfg, mistake)
        wrong.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
        wrong.double()
        outputs = []
        for c in cases:
            args = [torch.as_tensor(np.asarray(c[k], dtype=np.int64))
                    for k in ("input_ids", "attention_mask", "token_type_ids")]
            with torch.no_grad():
                outputs.append({k: v.numpy() for k, v in run_jina_transcription(wrong, *args).items()})
        dev_h, dev_p = deviation(outputs)
        assert dev_h > 1e-2, (mistake, dev_h)
        out[f"{mistake}: last_hidden_state max|d|"] = dev_h
        out[f"{mistake}: pooler max|d|"] = dev_p
    for norm in ("attention.self.layer_norm_q", "attention.self.layer_norm_k", "layer_norm_1", "layer_norm_2"):
        plain = dict(weights)
        for k in weights:
            if f".{norm}.weight" in "." + k:
                plain[k] = np.ones_like(weights[k])
            elif f".{norm}.bias" in "." + k:
                plain[k] = np.zeros_like(weights[k])
        assert sum(not np.array_equal(plain[k], weights[k]) for k in weights) == 2 * cfg["num_hidden_layers"], norm
        dev_h, dev_p = deviation([ref.forward(cfg, plain, c["input_ids"], c["attention_mask"], c["token_type_ids"])
                                  for c in cases])
        assert dev_h > 1e-3, (norm, dev_h)
        out[f"{norm.split('.')[-1]} gamma 1 beta 0: last_hidden_state max|d|"] = dev_h
    return out


def jina_probe_names(cfg, prefix):
    last = cfg["num_hidden_layers"] - 1
    p = prefix
    if ref.jina_is_qk_post_norm(cfg):
        return [p + "embeddings.word_embeddings.weight", p + "embeddings.token_type_embeddings.weight",
                p + "embeddings.LayerNorm.bias", p + "encoder.layer.0.attention.self.query.weight",
                p + f"encoder.layer.{last}.attention.self.key.bias", p + "encoder.layer.1.attention.self.value.weight",
                p + "encoder.layer.0.attention.self.layer_norm_q.weight",
                p + f"encoder.layer.{last}.attention.self.layer_norm_k.bias",
                p + "encoder.layer.0.attention.output.dense.weight",
                p + f"encoder.layer.{last}.attention.output.LayerNorm.weight",
                p + "encoder.layer.0.layer_norm_1.weight", p + "encoder.layer.0.mlp.up_gated_layer.weight",
                p + f"encoder.layer.{last}.mlp.down_layer.weight", p + "encoder.layer.0.mlp.down_layer.bias",
                p + f"encoder.layer.{last}.layer_norm_2.bias", p + "pooler.dense.weight"]
    names = [p + "embeddings.word_embeddings.weight", p + "embeddings.token_type_embeddings.weight",
             p + "embeddings.LayerNorm.bias", p + "encoder.layer.0.attention.self.query.weight",
             p + f"encoder.layer.{last}.attention.self.key.bias", p + "encoder.layer.1.attention.self.value.weight",
             p + "encoder.layer.0.attention.output.dense.weight",
             p + f"encoder.layer.{last}.attention.output.LayerNorm.weight",
             p + "encoder.layer.0.mlp.gated_layers.weight", p + f"encoder.layer.{last}.mlp.wo.weight",
             p + "encoder.layer.0.mlp.wo.bias", p + f"encoder.layer.{last}.mlp.layernorm.weight",
             p + "pooler.dense.weight"]
    if "id2label" in cfg:
        names.append("classifier.weight")
    return names


def build_jina(out_dir, vocab_list, spec):
    """A JinaBERT fixture, as build_rotary_family: config, weights, WordPiece files, jina_cases
    through the float64 reference (after the self-check), reference.json (tiny_jina also holds the
    slopes of 1..32 heads as the remote code's float32 tensor)."""
    name, arch, prefix, seed, extra = spec
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    vocab = {t: i for i, t in enumerate(vocab_list)}
    cfg = jina_config(len(vocab_list), arch, **extra)
    rng = np.random.default_rng(seed)
    weights = jina_weights(rng, cfg, prefix, "classifier" if "id2label" in extra else None)
    meta = {"format": "pt", "generator": "sparq tools/make_fixtures.py", "seed": str(seed)}
    ref.write_safetensors(os.path.join(d, "model.safetensors"), weights, meta)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_wordpiece_files(d, vocab_list, cfg["max_position_embeddings"])
    loaded, loaded_dtypes, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    for k, v in weights.items():
        assert np.array_equal(loaded[k], v), k
    cases = jina_cases(vocab, np.random.default_rng(1000 + seed), cfg)
    t0 = __import__("time").time()
    if ref.jina_is_qk_post_norm(cfg):
        checks = check_jina_qk_reference(cfg, loaded, cases)
    else:
        checks = check_jina_reference(cfg, loaded, cases, seed)
    check_s = __import__("time").time() - t0
    max_f32_dev = reference_outputs(cfg, loaded, cases)
    doc = {
        "model": name,
        "architecture": arch,
        "weights_dtype": "F32",
        "computed_in": "float64 (stored rounded to float32); ALiBi slopes rounded to float32 as the remote "
                       "code's torch.Tensor, the bias -slope * |i - j| in float64",
        "max_abs_dev_torch_float32": max_f32_dev,
        "outputs_note": "last_hidden_state is [B][S][H] for every position incl. padding (only positions with "
                        "attention_mask 1 are meaningful); pooler_output [B][H]; logits [B][L]",
        "probes": probes(loaded, loaded_dtypes, jina_probe_names(cfg, prefix), np.random.default_rng(seed + 7)),
        "cases": cases,
    }
    if name == "tiny_jina":
        # The remote code's slopes (torch.Tensor of _get_alibi_head_slopes: float32) for 1..32 heads.
        doc["alibi_slopes"] = {str(n): f32_list(ref.jina_alibi_slopes(n)) for n in range(1, 33)}
    write_reference(d, doc, name, arch, "F32", len(weights), max_f32_dev)
    print("  JinaBERT reference self-check ({:.2f} s): ".format(check_s) +
          ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))


# tokenizer.json of a SentencePiece Unigram model as transformers' convert_slow_tokenizer.py
# writes it (the `tokenizers` package is not in Debian, so its output is transcribed here):
# XLMRobertaConverter in the older form (Precompiled + Replace " {2,}" -> " ", Metaspace with
# add_prefix_space, fairseq ids: <s> <pad> </s> <unk>, piece i at i + 1, <mask> last and lstrip)
# and DebertaV2Converter in the newer one (Strip, Precompiled, Replace; a Sequence holding
# Metaspace with prepend_scheme; pieces at their own ids, [MASK] added after them).
def unigram_tokenizer_json(model_bytes, style):
    import base64
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    m.ParseFromString(model_bytes)
    pieces = [[p.piece, float(p.score)] for p in m.pieces]
    charsmap = {"type": "Precompiled",
                "precompiled_charsmap": base64.b64encode(m.normalizer_spec.precompiled_charsmap).decode()}
    replace = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
    if style == "xlmr":
        vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]] + pieces[3:] + [["<mask>", 0.0]]
        specials = list(enumerate(["<s>", "<pad>", "</s>", "<unk>"])) + [(len(vocab) - 1, "<mask>")]
        cls, sep, single, pair = "<s>", "</s>", "<s>:0 $A:0 </s>:0", "<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0"
        normalizers = [charsmap, replace]
        metaspace = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
        pre_tokenizer = metaspace
    else:
        vocab = pieces
        specials = [(i, p.piece) for i, p in enumerate(m.pieces) if p.type in (2, 3)] + [(len(vocab), "[MASK]")]
        cls, sep, single, pair = "[CLS]", "[SEP]", "[CLS]:0 $A:0 [SEP]:0", "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"
        normalizers = [{"type": "Strip", "strip_left": True, "strip_right": True}, charsmap, replace]
        metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [metaspace]}
    ids = {t: i for i, t in specials}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": t == "<mask>", "rstrip": False,
                          "normalized": False, "special": True} for i, t in specials],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "TemplateProcessing", "single": template_items(single),
                           "pair": template_items(pair),
                           "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in (cls, sep)}},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": ids["<unk>" if style == "xlmr" else "[UNK]"], "vocab": vocab,
                  "byte_fallback": False},
    }


def write_unigram_json_fixtures(out):
    """tiny_xlmr_json / tiny_deberta_json: tokenizer.json (unigram_tokenizer_json) and
    tokenizer_config.json of tiny_xlmr's and tiny_deberta's SentencePiece models, no model file."""
    for name, src, model_file, style in (("tiny_xlmr_json", "tiny_xlmr", "sentencepiece.bpe.model", "xlmr"),
                                         ("tiny_deberta_json", "tiny_deberta", "spm.model", "deberta")):
        d = os.path.join(out, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        with open(os.path.join(out, src, model_file), "rb") as f:
            tj = unigram_tokenizer_json(f.read(), style)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, indent=2, ensure_ascii=False)
            f.write("\n")
        shutil.copy(os.path.join(out, src, "tokenizer_config.json"), os.path.join(d, "tokenizer_config.json"))


def write_splade_reference(out, vocab_list):
    """tiny_mlm/splade.json: SPLADE vectors of the tiny masked-LM model for the settings a
    SpladePooling module's config.json can hold (pooling_strategy max / sum, activation_function
    relu / log1p_relu). sentence-transformers' SpladePooling transcribed on the float64
    reference's mlm_logits at every position of a padded batch: logits * attention_mask, relu,
    log1p (a second log1p for log1p_relu), then max or sum over the sequence."""
    d = os.path.join(out, "tiny_mlm")
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    loaded, _, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    vocab = {t: i for i, t in enumerate(vocab_list)}
    texts = ["the movie was great !", "she thought the old house was small .", "a"]
    toks = [["[CLS]"] + [p for w in t.split() for p in ref.wordpiece_tokenize(w, vocab)] + ["[SEP]"]
            for t in texts]
    seq = max(len(t) for t in toks)
    ids = [[vocab[x] for x in t] + [0] * (seq - len(t)) for t in toks]
    mask = [[1] * len(t) + [0] * (seq - len(t)) for t in toks]
    logits = torch.from_numpy(ref.forward(cfg, loaded, ids, mask, [[0] * seq for _ in toks])["mlm_logits"])
    x = torch.log1p(torch.relu(logits * torch.tensor(mask, dtype=torch.float64).unsqueeze(-1)))
    variants = []
    for strategy, act in (("max", "relu"), ("sum", "relu"), ("max", "log1p_relu"), ("sum", "log1p_relu")):
        y = torch.log1p(x) if act == "log1p_relu" else x
        pooled = y.max(dim=1).values if strategy == "max" else y.sum(dim=1)
        variants.append({"pooling_strategy": strategy, "activation_function": act,
                         "vectors": f32_list(pooled.numpy())})
    doc = {"model": "tiny_mlm", "computed_in": "float64 (tools/bert_reference.py forward, mlm_logits)",
           "texts": texts, "tokens": toks, "variants": variants}
    with open(os.path.join(d, "splade.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"tiny_mlm     splade.json: {len(texts)} texts x {len(variants)} pooling settings, "
          f"{sum(int((v > 0).sum()) for v in x.max(dim=1).values.numpy())} nonzero max-relu weights")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                  "tests", "fixtures"))
    ap.add_argument("--check-peers", action="store_true",
                    help="also compare tiny_base with ../shared/tools/peers/bertlib.py")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    write_dtype_fixture(out)
    vocab_list = build_vocab()
    for spec in MODELS:
        if os.path.isdir(os.path.join(out, spec[0])):
            shutil.rmtree(os.path.join(out, spec[0]))
        build_model(out, vocab_list, spec, args.check_peers)
    write_splade_reference(out, vocab_list)
    write_unigram_json_fixtures(out)
    dev = check_albert_reference(vocab_list)
    print("ALBERT reference self-check max|d|: " + ", ".join(f"{k} {v:.1e}" for k, v in dev.items()))
    for spec in MODERNBERT_MODELS:
        if os.path.isdir(os.path.join(out, spec[0])):
            shutil.rmtree(os.path.join(out, spec[0]))
        build_modernbert(out, spec)
    for spec in NOMIC_MODELS:
        if os.path.isdir(os.path.join(out, spec[0])):
            shutil.rmtree(os.path.join(out, spec[0]))
        build_nomic(out, vocab_list, spec)
    for spec in GTE_MODELS:
        if os.path.isdir(os.path.join(out, spec[0])):
            shutil.rmtree(os.path.join(out, spec[0]))
        build_gte(out, vocab_list, spec)
    for spec in JINA_MODELS:
        if os.path.isdir(os.path.join(out, spec[0])):
            shutil.rmtree(os.path.join(out, spec[0]))
        build_jina(out, vocab_list, spec)


if __name__ == "__main__":
    main()
