"""Independent reference of Hugging Face BERT inference semantics (PyTorch 1.13 + numpy only).

Used by tools/make_fixtures.py to produce the expected outputs that sparq's C++ encoder is tested
against. Nothing here imports `transformers`; the semantics follow modeling_bert.py (eval mode):

- embeddings: word[input_ids] + position[0..S-1] + token_type[token_type_ids], then LayerNorm
  (eps = config.layer_norm_eps);
- post-LN encoder layers: x = LN(x + Wo·attn(x)), x = LN(x + W2·gelu(W1·x));
  GELU is the exact erf form (hidden_act "gelu");
- additive attention mask (1 - mask) * torch.finfo(torch.float32).min on the key axis,
  scores scaled by 1/sqrt(head_dim);
- pooler: tanh(W·h[:, 0] + b);
- heads: BertForSequenceClassification (pooler -> classifier), BertForTokenClassification
  (classifier on every token), BertForQuestionAnswering (qa_outputs -> start/end logits).

ELECTRA (model_type "electra", modeling_electra.py) is BERT with embedding tables of width
embedding_size, projected to hidden_size by embeddings_project after the embedding LayerNorm
when the two differ, and ElectraClassificationHead: out_proj(gelu(dense(h[:, 0]))).

DistilBERT (model_type "distilbert", modeling_distilbert.py) runs through `forward` too, with its
own names and config keys: embeddings word + position (no token types) then LayerNorm (eps 1e-12);
TransformerBlock x = sa_layer_norm(x + out_lin(attn(x))), x = output_layer_norm(x + lin2(gelu(
lin1(x)))), q scaled by 1/sqrt(head_dim) before q·kᵀ, masked keys filled with finfo(float32).min;
DistilBertForSequenceClassification: classifier(relu(pre_classifier(h[:, 0]))).

MPNet (model_type "mpnet", modeling_mpnet.py) runs through `forward` too: embeddings word +
position (RoBERTa's position ids from pad + 1, no token types) then LayerNorm; post-LN layers
named attention.attn.{q,k,v,o} / attention.LayerNorm / intermediate / output, whose scores
q·kᵀ/sqrt(head_dim) get a relative position bias shared by all layers:
encoder.relative_attention_bias[bucket(j - i)] per head, T5-style bidirectional buckets (32, exact
below 8, logarithmic up to distance 128), positions 0..S-1 of the (padded) batch;
MPNetForSequenceClassification: out_proj(tanh(dense(h[:, 0]))).

Weights are plain numpy arrays keyed by their Hugging Face names, with or without the "bert." /
"roberta." / "distilbert." / "electra." / "mpnet." prefix. A pure-python safetensors reader/writer (struct + json + numpy) is included, with F16 and
BF16 support (BF16 via bit manipulation, round-to-nearest-even).
"""
import json
import math
import os
import struct

import numpy as np
import torch

# ------------------------------------------------------------------------------------------------
# safetensors

_NP_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
# Order of the HF safetensors crate's Dtype enum: its writer sorts tensors by it (descending), then
# by name, which keeps every tensor naturally aligned.
_HF_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9, "F32": 11,
            "F64": 12, "I64": 13}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bit patterns (round to nearest even, NaN kept NaN)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(a)
    out = rounded.astype(np.uint16)
    out[nan] = 0x7FC0
    return out


def bf16_bits_to_f32(bits):
    """uint16 bfloat16 bit patterns -> float32."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_to_dtype(a, dtype):
    """float32 values as they read back after storing in `dtype` ("F32", "F16" or "BF16")."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.copy()
    if dtype == "F16":
        return a.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        return bf16_bits_to_f32(f32_to_bf16_bits(a)).reshape(a.shape)
    raise ValueError(f"unsupported float dtype {dtype}")


def write_safetensors(path, tensors, metadata=None, dtypes=None):
    """Writes `tensors` (dict name -> numpy array) as HF safetensors.

    dtypes: optional dict name -> "F32" | "F16" | "BF16" (float arrays are converted); other
    arrays keep their numpy dtype. Layout as the HF writer: tensors ordered by dtype (HF enum order,
    descending) then name, header compact JSON in that order padded with spaces to a multiple of 8.
    """
    dtypes = dtypes or {}
    entries = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        code = dtypes.get(name)
        if code is None:
            code = {np.dtype(v): k for k, v in _NP_DTYPES.items()}[arr.dtype]
        if code == "BF16":
            raw = f32_to_bf16_bits(arr).astype("<u2").tobytes()
        else:
            raw = arr.astype(np.dtype(_NP_DTYPES[code]).newbyteorder("<")).tobytes()
        entries.append((name, code, list(arr.shape), raw))
    entries.sort(key=lambda e: (-_HF_RANK[e[1]], e[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    off = 0
    for name, code, shape, raw in entries:
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for e in entries:
            f.write(e[3])
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns (dict name -> numpy array (F16/BF16 converted to float32), dtypes, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    out, dtypes = {}, {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        code = info["dtype"]
        raw = data[a:b]
        if code == "BF16":
            arr = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_NP_DTYPES[code]).newbyteorder("<"))
            if code == "F16":
                arr = arr.astype(np.float32)
        out[name] = arr.reshape(info["shape"]).astype(arr.dtype.newbyteorder("="))
        dtypes[name] = code
    return out, dtypes, meta


# ------------------------------------------------------------------------------------------------
# model

TASKS = {
    "BertModel": "base",
    "BertForMaskedLM": "base",
    "BertForSequenceClassification": "sequence_classification",
    "BertForTokenClassification": "token_classification",
    "BertForQuestionAnswering": "question_answering",
    "RobertaModel": "base",
    "RobertaForMaskedLM": "base",
    "RobertaForSequenceClassification": "sequence_classification",
    "RobertaForTokenClassification": "token_classification",
    "RobertaForQuestionAnswering": "question_answering",
    "ElectraModel": "base",
    "ElectraForPreTraining": "base",
    "ElectraForMaskedLM": "base",
    "ElectraForSequenceClassification": "sequence_classification",
    "ElectraForTokenClassification": "token_classification",
    "ElectraForQuestionAnswering": "question_answering",
    "DistilBertModel": "base",
    "DistilBertForMaskedLM": "base",
    "DistilBertForSequenceClassification": "sequence_classification",
    "DistilBertForTokenClassification": "token_classification",
    "DistilBertForQuestionAnswering": "question_answering",
    "XLMRobertaModel": "base",
    "XLMRobertaForMaskedLM": "base",
    "XLMRobertaForSequenceClassification": "sequence_classification",
    "XLMRobertaForTokenClassification": "token_classification",
    "XLMRobertaForQuestionAnswering": "question_answering",
    "MPNetModel": "base",
    "MPNetForMaskedLM": "base",
    "MPNetForSequenceClassification": "sequence_classification",
    "MPNetForTokenClassification": "token_classification",
    "MPNetForQuestionAnswering": "question_answering",
}


def _get(weights, name):
    for key in ("bert." + name, "roberta." + name, "distilbert." + name, "electra." + name,
                "mpnet." + name, name):
        if key in weights:
            return weights[key]
    raise KeyError(name)


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def _linear(x, w, b):
    return torch.matmul(x, w.t()) + b


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _inputs(config, weights, input_ids, attention_mask, dtype):
    """The weights as `dtype` tensors, a getter by name (any family prefix), the LayerNorm eps,
    the ids and the attention mask (as `dtype`) of a BERT-style config."""
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError("only hidden_act 'gelu' is implemented")
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)).to(dtype)
    return w, (lambda n: _get(w, n)), float(config.get("layer_norm_eps", 1e-12)), ids, mask


def forward(config, weights, input_ids, attention_mask, token_type_ids, dtype=torch.float64):
    """Runs the encoder, pooler (if present) and the head named by config["architectures"][0].

    weights: dict HF name -> numpy array. Inputs: int arrays [B, S]. Computes in `dtype`.
    Returns dict of numpy float arrays: last_hidden_state [B,S,H], pooler_output [B,H] (if the
    checkpoint has a pooler), and logits [B,L] / logits [B,S,L] / start_logits, end_logits [B,S].
    """
    if config.get("model_type") == "distilbert":
        return _forward_distilbert(config, weights, input_ids, attention_mask, dtype)
    if config.get("model_type") == "mpnet":
        return _forward_mpnet(config, weights, input_ids, attention_mask, dtype)
    w, g, eps, ids, mask = _inputs(config, weights, input_ids, attention_mask, dtype)
    tt = torch.as_tensor(np.asarray(token_type_ids, dtype=np.int64))
    bsz, seq = ids.shape
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    hd = hidden // heads

    roberta = config.get("model_type") in ("roberta", "xlm-roberta")
    if roberta:
        # Hugging Face create_position_ids_from_input_ids: non-pad tokens count from pad + 1,
        # pad tokens sit at position pad.
        pad = int(config.get("pad_token_id", 1))
        m = (ids != pad).long()
        pos = torch.cumsum(m, dim=1) * m + pad
    else:
        pos = torch.arange(seq)[None, :].expand(bsz, seq)
    x = g("embeddings.word_embeddings.weight")[ids]
    x = x + g("embeddings.token_type_embeddings.weight")[tt]
    x = x + g("embeddings.position_embeddings.weight")[pos]
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    if config.get("model_type") == "electra" and config.get("embedding_size", hidden) != hidden:
        # ElectraModel.embeddings_project: embedding_size -> hidden_size after the LayerNorm.
        x = _linear(x, g("embeddings_project.weight"), g("embeddings_project.bias"))

    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

    def split(t):  # [B,S,H] -> [B,heads,S,hd]
        return t.view(bsz, seq, heads, hd).permute(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = split(_linear(x, g(p + "attention.self.query.weight"), g(p + "attention.self.query.bias")))
        k = split(_linear(x, g(p + "attention.self.key.weight"), g(p + "attention.self.key.bias")))
        v = split(_linear(x, g(p + "attention.self.value.weight"), g(p + "attention.self.value.bias")))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        a = _linear(ctx, g(p + "attention.output.dense.weight"), g(p + "attention.output.dense.bias"))
        x = _layer_norm(a + x, g(p + "attention.output.LayerNorm.weight"),
                        g(p + "attention.output.LayerNorm.bias"), eps)
        f = _gelu_erf(_linear(x, g(p + "intermediate.dense.weight"), g(p + "intermediate.dense.bias")))
        f = _linear(f, g(p + "output.dense.weight"), g(p + "output.dense.bias"))
        x = _layer_norm(f + x, g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias"), eps)

    out = {"last_hidden_state": x}
    has_pooler = any(k.endswith("pooler.dense.weight") for k in w)
    if has_pooler:
        out["pooler_output"] = torch.tanh(
            _linear(x[:, 0], g("pooler.dense.weight"), g("pooler.dense.bias")))
    task = TASKS[(config.get("architectures") or ["BertModel"])[0]]
    if "cls.predictions.transform.dense.weight" in w:
        # BertOnlyMLMHead: dense, gelu (config.hidden_act), LayerNorm, decoder tied to the word
        # embeddings unless stored, + bias.
        t = _gelu_erf(_linear(x, w["cls.predictions.transform.dense.weight"],
                              w["cls.predictions.transform.dense.bias"]))
        t = _layer_norm(t, w["cls.predictions.transform.LayerNorm.weight"],
                        w["cls.predictions.transform.LayerNorm.bias"], eps)
        dec = w.get("cls.predictions.decoder.weight", g("embeddings.word_embeddings.weight"))
        out["mlm_logits"] = torch.matmul(t, dec.t()) + w["cls.predictions.bias"]
    if task == "sequence_classification" and config.get("model_type") == "electra":
        # ElectraClassificationHead on [CLS]: dense, gelu (erf), out_proj.
        hcls = _gelu_erf(_linear(x[:, 0], w["classifier.dense.weight"], w["classifier.dense.bias"]))
        out["logits"] = _linear(hcls, w["classifier.out_proj.weight"], w["classifier.out_proj.bias"])
    elif task == "sequence_classification" and roberta:
        # RobertaClassificationHead on the <s> token: dense, tanh, out_proj.
        hcls = torch.tanh(_linear(x[:, 0], w["classifier.dense.weight"], w["classifier.dense.bias"]))
        out["logits"] = _linear(hcls, w["classifier.out_proj.weight"], w["classifier.out_proj.bias"])
    elif task == "sequence_classification":
        out["logits"] = _linear(out["pooler_output"], w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


def _token_heads(task, x, w, out):
    """The per-token heads, the same in every family: classifier, or qa_outputs -> start/end."""
    if task == "token_classification":
        out["logits"] = _linear(x, w["classifier.weight"], w["classifier.bias"])
    elif task == "question_answering":
        se = _linear(x, w["qa_outputs.weight"], w["qa_outputs.bias"])
        out["start_logits"] = se[..., 0]
        out["end_logits"] = se[..., 1]


def _forward_distilbert(config, weights, input_ids, attention_mask, dtype):
    """modeling_distilbert.py in eval mode (see the module docstring); token types do not exist."""
    if config.get("activation", "gelu") != "gelu":
        raise ValueError("only activation 'gelu' is implemented")
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
    g = lambda n: _get(w, n)  # noqa: E731
    eps = 1e-12
    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64))
    bsz, seq = ids.shape
    dim, heads = config["dim"], config["n_heads"]
    hd = dim // heads
    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[
        torch.arange(seq)][None]
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    key_masked = (mask == 0)[:, None, None, :]

    def shape(t):  # [B,S,dim] -> [B,heads,S,hd]
        return t.view(bsz, -1, heads, hd).transpose(1, 2)

    for i in range(config["n_layers"]):
        p = f"transformer.layer.{i}."
        q = shape(_linear(x, g(p + "attention.q_lin.weight"), g(p + "attention.q_lin.bias")))
        k = shape(_linear(x, g(p + "attention.k_lin.weight"), g(p + "attention.k_lin.bias")))
        v = shape(_linear(x, g(p + "attention.v_lin.weight"), g(p + "attention.v_lin.bias")))
        q = q / math.sqrt(hd)
        scores = torch.matmul(q, k.transpose(2, 3))
        scores = scores.masked_fill(key_masked, torch.finfo(torch.float32).min)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(bsz, -1, dim)
        sa = _linear(ctx, g(p + "attention.out_lin.weight"), g(p + "attention.out_lin.bias"))
        x = _layer_norm(sa + x, g(p + "sa_layer_norm.weight"), g(p + "sa_layer_norm.bias"), eps)
        f = _gelu_erf(_linear(x, g(p + "ffn.lin1.weight"), g(p + "ffn.lin1.bias")))
        f = _linear(f, g(p + "ffn.lin2.weight"), g(p + "ffn.lin2.bias"))
        x = _layer_norm(f + x, g(p + "output_layer_norm.weight"), g(p + "output_layer_norm.bias"),
                        eps)

    out = {"last_hidden_state": x}
    task = TASKS[(config.get("architectures") or ["DistilBertModel"])[0]]
    if task == "sequence_classification":
        pre = torch.relu(_linear(x[:, 0], w["pre_classifier.weight"], w["pre_classifier.bias"]))
        out["logits"] = _linear(pre, w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


def mpnet_relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """MPNetEncoder.relative_position_bucket: torch long tensor in, bucket ids out (float32 log)."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                                * (num_buckets - max_exact)).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    ret += torch.where(is_small, n, val_if_large)
    return ret


def _forward_mpnet(config, weights, input_ids, attention_mask, dtype):
    """modeling_mpnet.py in eval mode (see the module docstring)."""
    w, g, eps, ids, mask = _inputs(config, weights, input_ids, attention_mask, dtype)
    bsz, seq = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    hd = hidden // heads
    pad = int(config.get("pad_token_id", 1))
    m = (ids != pad).long()
    pos = torch.cumsum(m, dim=1) * m + pad  # create_position_ids_from_input_ids
    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[pos]
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    # MPNetEncoder.compute_position_bias (num_buckets 32, positions 0..S-1): [1, heads, S, S].
    ctx_pos = torch.arange(seq, dtype=torch.long)[:, None]
    mem_pos = torch.arange(seq, dtype=torch.long)[None, :]
    bucket = mpnet_relative_position_bucket(mem_pos - ctx_pos, num_buckets=32)
    bias = g("encoder.relative_attention_bias.weight")[bucket].permute(2, 0, 1)[None]
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

    def split(t):  # [B,S,H] -> [B,heads,S,hd]
        return t.view(bsz, seq, heads, hd).permute(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention.attn."
        q = split(_linear(x, g(a + "q.weight"), g(a + "q.bias")))
        k = split(_linear(x, g(a + "k.weight"), g(a + "k.bias")))
        v = split(_linear(x, g(a + "v.weight"), g(a + "v.bias")))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores + bias + ext
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        o = _linear(ctx, g(a + "o.weight"), g(a + "o.bias"))
        x = _layer_norm(o + x, g(p + "attention.LayerNorm.weight"), g(p + "attention.LayerNorm.bias"), eps)
        f = _gelu_erf(_linear(x, g(p + "intermediate.dense.weight"), g(p + "intermediate.dense.bias")))
        f = _linear(f, g(p + "output.dense.weight"), g(p + "output.dense.bias"))
        x = _layer_norm(f + x, g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias"), eps)

    out = {"last_hidden_state": x}
    if any(k.endswith("pooler.dense.weight") for k in w):
        out["pooler_output"] = torch.tanh(_linear(x[:, 0], g("pooler.dense.weight"), g("pooler.dense.bias")))
    task = TASKS[(config.get("architectures") or ["MPNetModel"])[0]]
    if "lm_head.dense.weight" in w:
        # MPNetLMHead: dense, gelu, layer_norm, decoder (tied unless stored) + bias.
        t = _gelu_erf(_linear(x, w["lm_head.dense.weight"], w["lm_head.dense.bias"]))
        t = _layer_norm(t, w["lm_head.layer_norm.weight"], w["lm_head.layer_norm.bias"], eps)
        dec = w.get("lm_head.decoder.weight", g("embeddings.word_embeddings.weight"))
        out["mlm_logits"] = torch.matmul(t, dec.t()) + w["lm_head.bias"]
    if task == "sequence_classification":
        # MPNetClassificationHead on <s>: dense, tanh, out_proj.
        hcls = torch.tanh(_linear(x[:, 0], w["classifier.dense.weight"], w["classifier.dense.bias"]))
        out["logits"] = _linear(hcls, w["classifier.out_proj.weight"], w["classifier.out_proj.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


# ------------------------------------------------------------------------------------------------
# a minimal BERT WordPiece tokenizer for plain lower-case ASCII text (fixtures only)


def load_vocab(path):
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


def wordpiece_tokenize(text, vocab, max_chars=100):
    """BasicTokenizer (lower case, split on whitespace and ASCII punctuation) + greedy
    longest-match-first WordPiece. Only meant for ASCII text."""
    words, cur = [], ""
    for ch in text.lower():
        if ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif not ch.isalnum():
            if cur:
                words.append(cur)
            words.append(ch)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    pieces = []
    for word in words:
        if len(word) > max_chars:
            pieces.append("[UNK]")
            continue
        start, sub = 0, []
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = ("##" if start > 0 else "") + word[start:end]
                if piece in vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                sub = ["[UNK]"]
                break
            sub.append(found)
            start = end
        pieces.extend(sub)
    return pieces


def encode(text, vocab, pair=None):
    """[CLS] a [SEP] (b [SEP]) -> (tokens, ids, type_ids)."""
    toks = ["[CLS]"] + wordpiece_tokenize(text, vocab) + ["[SEP]"]
    types = [0] * len(toks)
    if pair is not None:
        b = wordpiece_tokenize(pair, vocab) + ["[SEP]"]
        toks += b
        types += [1] * len(b)
    return toks, [vocab[t] for t in toks], types


# ------------------------------------------------------------------------------------------------
# command line: run a model directory on one input, print the outputs as JSON


def main():
    import argparse

    ap = argparse.ArgumentParser(
        description="Run the reference BERT on a model directory (config.json + "
                    "model.safetensors) and print its outputs as JSON.")
    ap.add_argument("model_dir")
    grp = ap.add_mutually_exclusive_group(required=True)
    grp.add_argument("--ids", help="comma-separated input ids (one sequence)")
    grp.add_argument("--text", help="text to tokenize with the directory's vocab.txt (lower-case "
                                    "ASCII only)")
    ap.add_argument("--pair", help="second text of a pair (with --text)")
    ap.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    args = ap.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        config = json.load(f)
    weights, _, _ = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    if args.text is not None:
        vocab = load_vocab(os.path.join(args.model_dir, "vocab.txt"))
        tokens, ids, types = encode(args.text, vocab, args.pair)
    else:
        ids = [int(x) for x in args.ids.split(",")]
        tokens, types = None, [0] * len(ids)
    outs = forward(config, weights, [ids], [[1] * len(ids)], [types],
                   dtype=torch.float32 if args.float32 else torch.float64)
    doc = {"input_ids": ids, "token_type_ids": types}
    if tokens:
        doc["tokens"] = tokens
    doc.update({k: v[0].tolist() for k, v in outs.items()})
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
