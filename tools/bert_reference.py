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

DeBERTa-v2 / v3 (model_type "deberta-v2", modeling_deberta_v2.py) runs through `forward` too:
embeddings word (+ position 0..S-1 if position_biased_input) (+ token type if type_vocab_size > 0),
LayerNorm (eps 1e-7 by default), times the attention mask; disentangled attention whose scores
q·kᵀ/s get c2p[i][j] = q_i·pos_key[c(i, j)]/s and p2c[i][j] = k_j·pos_query[c'(j, i)]/s
(s = sqrt(head_dim * (1 + #{c2p, p2c})), pos_key / pos_query = key_proj / query_proj of the
relative embeddings, c = clamp(bucket(i - j) + span, 0, 2 span - 1), bucket logarithmic beyond
position_buckets / 2 when position_buckets > 0), masked as XSoftmax (only pairs of real tokens
attend), then BERT's output / FFN blocks; DebertaV2ForSequenceClassification: ContextPooler
(dense + pooler_hidden_act on h[:, 0]) then classifier. See `_forward_deberta_v2`.

DeBERTa v1 (model_type "deberta", modeling_deberta.py) runs through `forward` too, with v2's
embeddings, mask, output / FFN blocks and ContextPooler but its own attention: one fused
attention.self.in_proj [3H, H] without bias whose outputs are grouped per head (head n owns rows
3dn .. 3dn + 3d: its q, k, v), q_bias / v_bias added after the split (k has none), q divided by
s = sqrt(head_dim * (1 + len(pos_att_type))) before q·kᵀ, c2p from pos_proj (no bias) and p2c from
pos_q_proj (with bias, divided by s) of the raw relative embeddings (no LayerNorm, no buckets),
centred slice rel_embeddings[max_rel - span : max_rel + span] with the dynamic
span = min(S, max_relative_positions). See `_forward_deberta_v1`; DebertaTokenizer (GPT-2 byte-level
BPE over vocab.json + merges.txt) is `gpt2_bpe_tokenize` / `deberta_v1_encode`.

ALBERT (model_type "albert", modeling_albert.py) runs through `forward` too: embeddings word +
token type + position 0..S-1, all embedding_size (E) wide, LayerNorm over E, then
encoder.embedding_hidden_mapping_in (Linear E -> H, present even when E == H); layer i of
num_hidden_layers runs layer group int(i / (num_hidden_layers / num_hidden_groups)), i.e. that
group's inner_group_num AlbertLayers in order (weights shared across the layers of a group);
AlbertLayer: x = attention.LayerNorm(x + attention.dense(attn(x))) (BERT's attention and mask),
x = full_layer_layer_norm(ffn_output(act(ffn(x))) + x), act = ACT2FN[hidden_act] ("gelu" erf,
"gelu_new" tanh form); pooler: tanh(pooler(h[:, 0])) (names `pooler.weight`, no `.dense`);
AlbertForSequenceClassification: classifier(pooled); AlbertForMaskedLM: predictions.dense (H -> E),
act, predictions.LayerNorm (E), decoder (tied to the word embeddings) + predictions.bias. See
`_forward_albert`; AlbertTokenizer (slow, spiece.model) is `albert_tokenize` / `albert_encode`.

ModernBERT (model_type "modernbert", modeling_modernbert.py, the eager attention path) runs
through `forward` too: embeddings LayerNorm(tok_embeddings[ids]) (no position table, no token
types); pre-norm layers x += attn.Wo(attention(attn_norm(x))) (layer 0 without attn_norm) and
x += mlp.Wo(gelu(in) * gate), (in, gate) = mlp.Wi(mlp_norm(x)).chunk(2); a fused attn.Wqkv [3H, H]
(q, k, v blocks of H rows, head h the rows h*d .. h*d + d - 1 of each); rotary position embeddings
(rotate_half, Hugging Face's float32 tables) on q and k, theta global_rope_theta on the global layers
(i % global_attn_every_n_layers == 0), local_rope_theta on the others, which only see keys within
local_attention // 2 of the query; final_norm; LayerNorms without bias unless norm_bias, the Linears
without bias unless attention_bias / mlp_bias / classifier_bias; heads: ModernBertPredictionHead
norm(act(dense(h))), then the tied decoder + decoder.bias (ForMaskedLM, `mlm_logits`), classifier
on the "cls" / "mean" pooled state (ForSequenceClassification) or classifier on every token
(ForTokenClassification, `logits` [B, S, L]; ForQuestionAnswering: its 2 columns are start_logits
and end_logits). See `_forward_modernbert`; its
tokenizer (tokenizer.json, byte-level BPE, [CLS] a [SEP] b [SEP]) is `modernbert_encode`.

NomicBERT (model_type "nomic_bert", nomic-ai's remote code modeling_hf_nomic_bert.py, the
nomic-embed-text-v1 / v1.5 architecture; NomicBertModel without pooler) runs through `forward` too:
embeddings emb_ln(word_embeddings[ids] + token_type_embeddings[type ids]) (no position table);
post-norm blocks x = norm1(x + attn.out_proj(attn(x))), x = norm2(x + mlp.fc2(fc11(x) * act(fc12(x))))
(act SiLU for "swiglu", erf GELU for "geglu": on fc12, the gate); a fused attn.Wqkv [3H, H] (q, k,
v blocks of H rows, head n the rows n*d .. n*d + d - 1 of each), rotary embeddings (rotate_half,
not interleaved, base rotary_emb_base, float32 tables as the remote code computes them) on q and k;
the biases of Wqkv / out_proj, fc11 / fc12 and fc2 only with qkv_proj_bias, mlp_fc1_bias,
mlp_fc2_bias; names without prefix (`embeddings.*`, `emb_ln`, `encoder.layers.N.*`). See
`_forward_nomic`; its tokenizer is BERT's WordPiece (vocab.txt).

GTE v1.5 (model_type "new", Alibaba-NLP's remote code modeling.py of Alibaba-NLP/new-impl, the
gte-base-en-v1.5 / gte-large-en-v1.5 / gte-multilingual-base architecture; NewModel without pooler)
runs through `forward` too: embeddings embeddings.LayerNorm(word_embeddings[ids] +
token_type_embeddings[type ids]) (no position table: position_embedding_type "rope"; the type
table only if type_vocab_size > 0); post-norm layers x = attn_ln(x + attention.o_proj(attn(x))),
x = mlp_ln(x + mlp.down_proj(act(gate) * up)) with (up, gate) = mlp.up_gate_proj(x) split in two
halves (up first; no up_gate_proj bias), act = hidden_act (erf GELU for "gelu", SiLU for "silu");
a fused attention.qkv_proj [3H, H] with bias (q, k, v blocks of H rows, head n the rows
n*d .. n*d + d - 1 of each), rotary embeddings (rotate_half, dim head_dim, base rope_theta, with
rope_scaling {"type": "ntk", "factor": f} NTKScalingRotaryEmbedding's base rope_theta * f and
frequencies divided by f^(2 / head_dim); float32 tables as the remote code computes them) on q and
k; every LayerNorm eps layer_norm_eps; names without prefix (`embeddings.*`,
`encoder.layer.N.{attention,mlp}.*`, `encoder.layer.N.{attn_ln,mlp_ln}`). See `_forward_gte`; its
tokenizer is BERT's WordPiece (vocab.txt).

JinaBERT (model_type "bert" with position_embedding_type "alibi", jinaai/jina-bert-implementation's
remote code modeling_bert.py, the jina-embeddings-v2-small-en / -base-en and jina-reranker-v1
architecture; JinaBertModel with BERT's pooler, JinaBertForSequenceClassification) runs through
`forward` too: embeddings embeddings.LayerNorm(word_embeddings[ids] + token_type_embeddings[type
ids]) (no position table); BERT's post-norm attention block (attention.self.{query,key,value},
attention.output.dense, attention.output.LayerNorm) whose scores q·kᵀ / sqrt(head_dim) + mask get
the ALiBi bias -slope_h * |i - j| (the ALiBi paper's slopes: `jina_alibi_slopes`, rounded to float32
as the remote code's torch.Tensor; positions i, j of the padded batch); JinaBertGLUMLP (feed_forward_type
"geglu"): u = mlp.gated_layers(x) (no bias), x = mlp.layernorm(x + mlp.wo(gelu(u[:I]) * u[I:]))
(erf GELU on the first half); pooler tanh(pooler.dense(h[:, 0])), classifier on it. Names as BERT's
(no prefix, or "bert." with the classifier at the top level). The qk-post-norm variant
(jinaai/jina-bert-v2-qk-post-norm's remote code, jina-embeddings-v2-base-code; recognised by an
auto_map entry naming "qk-post-norm": `jina_is_qk_post_norm`), as text-embeddings-inference's python
port FlashJinaBert computes it: q = attention.self.layer_norm_q(query(x)), k = layer_norm_k(key(x))
(LayerNorms over the whole hidden size, before the head split), the same ALiBi attention and
a = attention.output.LayerNorm(attention.output.dense(ctx) + x), then r = layer_norm_1(x + a),
u = mlp.up_gated_layer(r) (no bias), x = layer_norm_2(r + mlp.down_layer(u[:I] * gelu(u[I:]))) (erf
GELU on the second half). See `_forward_jina`; its tokenizer is BERT's WordPiece (vocab.txt).

Weights are plain numpy arrays keyed by their Hugging Face names, with or without the "bert." /
"roberta." / "distilbert." / "electra." / "mpnet." / "deberta." / "albert." prefix (ModernBERT's:
"model."). A pure-python safetensors reader/writer (struct + json + numpy) is included, with F16
and BF16 support (BF16 via bit manipulation, round-to-nearest-even).
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
    "BertForMultipleChoice": "multiple_choice",
    "RobertaModel": "base",
    "RobertaForMaskedLM": "base",
    "RobertaForSequenceClassification": "sequence_classification",
    "RobertaForTokenClassification": "token_classification",
    "RobertaForQuestionAnswering": "question_answering",
    "RobertaForMultipleChoice": "multiple_choice",
    "ElectraModel": "base",
    "ElectraForPreTraining": "base",
    "ElectraForMaskedLM": "base",
    "ElectraForSequenceClassification": "sequence_classification",
    "ElectraForTokenClassification": "token_classification",
    "ElectraForQuestionAnswering": "question_answering",
    "ElectraForMultipleChoice": "multiple_choice",
    "DistilBertModel": "base",
    "DistilBertForMaskedLM": "base",
    "DistilBertForSequenceClassification": "sequence_classification",
    "DistilBertForTokenClassification": "token_classification",
    "DistilBertForQuestionAnswering": "question_answering",
    "DistilBertForMultipleChoice": "multiple_choice",
    "XLMRobertaModel": "base",
    "XLMRobertaForMaskedLM": "base",
    "XLMRobertaForSequenceClassification": "sequence_classification",
    "XLMRobertaForTokenClassification": "token_classification",
    "XLMRobertaForQuestionAnswering": "question_answering",
    "XLMRobertaForMultipleChoice": "multiple_choice",
    "MPNetModel": "base",
    "MPNetForMaskedLM": "base",
    "MPNetForSequenceClassification": "sequence_classification",
    "MPNetForTokenClassification": "token_classification",
    "MPNetForQuestionAnswering": "question_answering",
    "MPNetForMultipleChoice": "multiple_choice",
    "DebertaV2Model": "base",
    "DebertaV2ForMaskedLM": "base",
    "DebertaV2ForSequenceClassification": "sequence_classification",
    "DebertaV2ForTokenClassification": "token_classification",
    "DebertaV2ForQuestionAnswering": "question_answering",
    "DebertaV2ForMultipleChoice": "multiple_choice",
    "DebertaModel": "base",
    "DebertaForMaskedLM": "base",
    "DebertaForSequenceClassification": "sequence_classification",
    "DebertaForTokenClassification": "token_classification",
    "DebertaForQuestionAnswering": "question_answering",
    "AlbertModel": "base",
    "AlbertForMaskedLM": "base",
    "AlbertForSequenceClassification": "sequence_classification",
    "AlbertForTokenClassification": "token_classification",
    "AlbertForQuestionAnswering": "question_answering",
    "AlbertForMultipleChoice": "multiple_choice",
    "ModernBertModel": "base",
    "ModernBertForMaskedLM": "base",
    "ModernBertForSequenceClassification": "sequence_classification",
    "ModernBertForTokenClassification": "token_classification",
    "ModernBertForQuestionAnswering": "question_answering",
    "ModernBertForMultipleChoice": "multiple_choice",
    "NomicBertModel": "base",
    "JinaBertModel": "base",
    "JinaBertForMaskedLM": "base",
    "JinaBertForSequenceClassification": "sequence_classification",
}


def _get(weights, name):
    for key in ("bert." + name, "roberta." + name, "distilbert." + name, "electra." + name,
                "mpnet." + name, "deberta." + name, "albert." + name, name):
        if key in weights:
            return weights[key]
    raise KeyError(name)


def _implemented(config, family, key, default, allowed):
    """config[key] (default when absent) if it is one of `allowed`, else ValueError naming it."""
    value = config.get(key, default)
    if value not in allowed:
        raise ValueError(f"{family} {key} {value!r} is not implemented ({', '.join(allowed)})")
    return value


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def _linear(x, w, b):
    return torch.matmul(x, w.t()) + b


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    """Hugging Face NewGELUActivation ("gelu_new"): the tanh approximation of GELU."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _activation(name):
    """ACT2FN[name] for the activations the reference implements: "gelu" (exact erf form) and the
    tanh form under its three names: "gelu_new" (NewGELUActivation), "gelu_pytorch_tanh"
    (torch gelu(approximate="tanh"), the same formula) and "gelu_fast" (FastGELUActivation, which
    writes sqrt(2/pi) as 0.7978845608: a relative difference below 1e-11, ignored here)."""
    if name == "gelu":
        return _gelu_erf
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh"):
        return _gelu_tanh
    raise ValueError(f"hidden_act {name!r} is not implemented")


def _layer_rest(x, ctx, g, p, eps, dense="attention.output.dense", norm="attention.output.LayerNorm",
                ffn_in="intermediate.dense", ffn_out="output.dense", ffn_norm="output.LayerNorm", act=_gelu_erf):
    """A BERT-style layer after its attention context: the output dense (`dense` under the layer
    prefix p) + residual LayerNorm (`norm`), then the FFN `ffn_out`(act(`ffn_in`(x))) (GELU erf
    unless `act` says otherwise) + residual LayerNorm (`ffn_norm`)."""
    a = _linear(ctx, g(p + dense + ".weight"), g(p + dense + ".bias"))
    x = _layer_norm(a + x, g(p + norm + ".weight"), g(p + norm + ".bias"), eps)
    f = act(_linear(x, g(p + ffn_in + ".weight"), g(p + ffn_in + ".bias")))
    f = _linear(f, g(p + ffn_out + ".weight"), g(p + ffn_out + ".bias"))
    return _layer_norm(f + x, g(p + ffn_norm + ".weight"), g(p + ffn_norm + ".bias"), eps)


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
    if config.get("model_type") == "deberta-v2":
        return _forward_deberta_v2(config, weights, input_ids, attention_mask, token_type_ids, dtype)
    if config.get("model_type") == "deberta":
        return _forward_deberta_v1(config, weights, input_ids, attention_mask, token_type_ids, dtype)
    if config.get("model_type") == "albert":
        return _forward_albert(config, weights, input_ids, attention_mask, token_type_ids, dtype)
    if config.get("model_type") == "modernbert":  # no token types: token_type_ids are ignored
        return _forward_modernbert(config, weights, input_ids, attention_mask, dtype)
    if config.get("model_type") == "nomic_bert":
        return _forward_nomic(config, weights, input_ids, attention_mask, token_type_ids, dtype)
    if config.get("model_type") == "new":  # GTE v1.5 (Alibaba-NLP/new-impl)
        return _forward_gte(config, weights, input_ids, attention_mask, token_type_ids, dtype)
    if config.get("model_type") == "bert" and config.get("position_embedding_type") == "alibi":  # JinaBERT
        return _forward_jina(config, weights, input_ids, attention_mask, token_type_ids, dtype)
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
        x = _layer_rest(x, ctx, g, p, eps)

    out = {"last_hidden_state": x}
    has_pooler = any(k.endswith("pooler.dense.weight") for k in w)
    if has_pooler:
        out["pooler_output"] = torch.tanh(
            _linear(x[:, 0], g("pooler.dense.weight"), g("pooler.dense.bias")))
    task = TASKS[(config.get("architectures") or ["BertModel"])[0]]
    # BertOnlyMLMHead: dense, gelu (config.hidden_act), LayerNorm, decoder + bias.
    _mlm_head(w, g, out, x, eps, _gelu_erf, "cls.predictions.transform.dense",
              "cls.predictions.transform.LayerNorm", "cls.predictions")
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
    elif task == "multiple_choice" and config.get("model_type") == "electra":
        # ElectraForMultipleChoice: SequenceSummary ("first" token, summary Linear, the
        # summary_activation: gelu), then classifier Linear(hidden, 1).
        if config.get("summary_activation", "gelu") != "gelu":
            raise ValueError("summary_activation other than gelu is not implemented")
        s = _gelu_erf(_linear(x[:, 0], w["sequence_summary.summary.weight"], w["sequence_summary.summary.bias"]))
        out["logits"] = _linear(s, w["classifier.weight"], w["classifier.bias"])
    elif task == "multiple_choice":
        # Bert/Roberta/XLMRobertaForMultipleChoice: the model's pooler (tanh), classifier
        # Linear(hidden, 1); one logit per (prompt, choice) sequence, Hugging Face reshapes
        # them to [batch, num_choices].
        out["logits"] = _linear(out["pooler_output"], w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


def _mlm_head(w, g, out, x, eps, act, dense, norm, head):
    """A masked-LM head, if the weights have it: act(dense(x)), LayerNorm, then the decoder
    (head.decoder.weight, else tied to the word embeddings) + head.bias, into out["mlm_logits"]."""
    if dense + ".weight" not in w:
        return
    t = act(_linear(x, w[dense + ".weight"], w[dense + ".bias"]))
    t = _layer_norm(t, w[norm + ".weight"], w[norm + ".bias"], eps)
    dec = w.get(head + ".decoder.weight", g("embeddings.word_embeddings.weight"))
    out["mlm_logits"] = torch.matmul(t, dec.t()) + w[head + ".bias"]


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
    if task in ("sequence_classification", "multiple_choice"):  # MC: classifier Linear(dim, 1)
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
        x = _layer_rest(x, ctx, g, p, eps, dense="attention.attn.o", norm="attention.LayerNorm")

    out = {"last_hidden_state": x}
    if any(k.endswith("pooler.dense.weight") for k in w):
        out["pooler_output"] = torch.tanh(_linear(x[:, 0], g("pooler.dense.weight"), g("pooler.dense.bias")))
    task = TASKS[(config.get("architectures") or ["MPNetModel"])[0]]
    # MPNetLMHead: dense, gelu, layer_norm, decoder + bias.
    _mlm_head(w, g, out, x, eps, _gelu_erf, "lm_head.dense", "lm_head.layer_norm", "lm_head")
    if task == "sequence_classification":
        # MPNetClassificationHead on <s>: dense, tanh, out_proj.
        hcls = torch.tanh(_linear(x[:, 0], w["classifier.dense.weight"], w["classifier.dense.bias"]))
        out["logits"] = _linear(hcls, w["classifier.out_proj.weight"], w["classifier.out_proj.bias"])
    elif task == "multiple_choice":  # MPNetForMultipleChoice: the pooler (tanh), Linear(hidden, 1)
        out["logits"] = _linear(out["pooler_output"], w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


def deberta_log_bucket(relative_pos, bucket_size, max_position):
    """modeling_deberta_v2.make_log_bucket_position, with its types: relative distances (an int64
    tensor) -> buckets (int64). Distances with |r| <= bucket_size // 2 are kept; beyond,
    sign(r) * (ceil(log(|r| / mid) / log((max_position - 1) / mid) * (mid - 1)) + mid), every step
    in torch float32 as Hugging Face computes it (`abs_pos / mid` of an int64 tensor is float32,
    `torch.tensor((max_position - 1) / mid)` too)."""
    rel = torch.as_tensor(relative_pos, dtype=torch.long)
    sign = torch.sign(rel)
    mid = bucket_size // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.tensor(mid - 1).type_as(rel), torch.abs(rel))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid))
                         * (mid - 1)) + mid
    assert log_pos.dtype == torch.float32
    return torch.where(abs_pos <= mid, rel.type_as(log_pos), log_pos * sign).to(torch.long)


def deberta_settings(config):
    """The relative-attention settings of a deberta-v2 config, resolved as DebertaV2Config /
    DebertaV2Encoder / DisentangledSelfAttention resolve them."""
    pos_att_type = config.get("pos_att_type")
    if pos_att_type is None:
        pos_att_type = []
    elif isinstance(pos_att_type, str):  # DebertaV2Config: old configs say "p2c|c2p"
        pos_att_type = [x.strip() for x in pos_att_type.lower().split("|")]
    relative = bool(config.get("relative_attention", False))
    max_rel = int(config.get("max_relative_positions", -1))
    if max_rel < 1:
        max_rel = int(config.get("max_position_embeddings", 512))
    buckets = int(config.get("position_buckets", -1))
    return {
        "relative_attention": relative,
        "pos_att_type": list(pos_att_type),
        "max_relative_positions": max_rel,
        "position_buckets": buckets,
        "att_span": buckets if buckets > 0 else max_rel,
        "norm_rel_ebd": [x.strip() for x in str(config.get("norm_rel_ebd", "none")).lower().split("|")],
        "share_att_key": bool(config.get("share_att_key", False)),
        "position_biased_input": bool(config.get("position_biased_input", True)),
        "type_vocab_size": int(config.get("type_vocab_size", 0)),
    }


def deberta_relative_positions(seq, config):
    """[S, S] int64: relative_pos[i][j] = bucket(i - j) (query i, key j), build_relative_position."""
    st = deberta_settings(config)
    ids = torch.arange(seq, dtype=torch.long)
    rel = ids[:, None] - ids[None, :]
    if st["position_buckets"] > 0 and st["max_relative_positions"] > 0:
        rel = deberta_log_bucket(rel, st["position_buckets"], st["max_relative_positions"])
    return rel


def deberta_disentangled_scores(q, k, pos_q, pos_k, relative_pos, att_span, pos_att_type, scale):
    """The c2p + p2c terms added to the content scores, already divided by `scale`.

    q, k: [B, heads, S, d]; pos_q / pos_k: [heads, 2 span, d] (query_proj / key_proj of the
    relative embeddings, split into heads); relative_pos: [S, S]. Gathered with explicit index
    tensors: c2p[i][j] = (q_i . pos_k[c2p_pos[i][j]]), c2p_pos = clamp(rel + span, 0, 2 span - 1);
    p2c[i][j] = (k_j . pos_q[p2c_pos[j][i]]), p2c_pos = clamp(-rel + span, 0, 2 span - 1)
    (Hugging Face gathers the [key][position] matrix with p2c_pos and transposes it)."""
    seq = q.shape[2]
    rows = torch.arange(seq)[:, None].expand(seq, seq)  # [i][j] -> i
    cols = torch.arange(seq)[None, :].expand(seq, seq)  # [i][j] -> j
    out = torch.zeros(q.shape[0], q.shape[1], seq, seq, dtype=q.dtype)
    if "c2p" in pos_att_type:
        c2p_all = torch.matmul(q, pos_k.transpose(-1, -2)[None])  # [B, h, S(query), 2 span]
        c2p_pos = torch.clamp(relative_pos + att_span, 0, 2 * att_span - 1)
        out = out + c2p_all[:, :, rows, c2p_pos] / scale
    if "p2c" in pos_att_type:
        p2c_all = torch.matmul(k, pos_q.transpose(-1, -2)[None])  # [B, h, S(key), 2 span]
        p2c_pos = torch.clamp(-relative_pos + att_span, 0, 2 * att_span - 1)
        # [i][j] reads row j (the key) at column p2c_pos[j][i]
        out = out + p2c_all[:, :, cols, p2c_pos.t()] / scale
    return out


def _deberta_inputs(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """The weights as torch tensors of `dtype` (and a getter g(name)), layer_norm_eps (DeBERTa's
    default 1e-7) and the id / mask / type-id tensors."""
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
    g = lambda n: _get(w, n)  # noqa: E731
    eps = float(config.get("layer_norm_eps", 1e-7))
    as_long = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))  # noqa: E731
    return w, g, eps, as_long(input_ids), as_long(attention_mask), as_long(token_type_ids)


def _forward_deberta_v2(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """modeling_deberta_v2.py in eval mode (DebertaV2Model + heads), see the module docstring.

    Hugging Face details kept: the embedding output is multiplied by the attention mask; the
    encoder's mask is pairwise (mask[i] * mask[j]) and XSoftmax fills masked scores with
    finfo.min and sets their probabilities to 0 (a padded query row gets all-zero probabilities);
    the score scale is the float32 sqrt(head_dim * scale_factor), as HF computes it in float32
    whatever the model dtype; the relative embeddings are LayerNorm'ed (encoder.LayerNorm) when
    norm_rel_ebd has "layer_norm" and cut to their first 2 * att_span rows.
    Not implemented (raises): conv_kernel_size > 0 (the ConvLayer after the first layer of
    deberta-v2-xlarge / xxlarge), hidden_act / pooler_hidden_act other than gelu / tanh."""
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError("only hidden_act 'gelu' is implemented")
    if int(config.get("conv_kernel_size", 0)) > 0:
        raise NotImplementedError("DeBERTa-v2 ConvLayer (conv_kernel_size > 0) is not implemented")
    st = deberta_settings(config)
    w, g, eps, ids, mask, tt = _deberta_inputs(config, weights, input_ids, attention_mask, token_type_ids,
                                               dtype)
    bsz, seq = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    hd = int(config.get("attention_head_size", hidden // heads))

    x = _deberta_embeddings(config, st, g, ids, tt, mask, eps)

    # DebertaV2Encoder: pairwise mask, relative positions and embeddings shared by the layers
    pair_mask = (mask[:, None, :, None] * mask[:, None, None, :]).bool()  # [B, 1, S, S]
    span = st["att_span"]
    rel_emb = None
    relative_pos = None
    if st["relative_attention"]:
        rel_emb = g("encoder.rel_embeddings.weight")
        if "layer_norm" in st["norm_rel_ebd"]:
            rel_emb = _layer_norm(rel_emb, g("encoder.LayerNorm.weight"), g("encoder.LayerNorm.bias"), eps)
        rel_emb = rel_emb[0:2 * span]
        relative_pos = deberta_relative_positions(seq, config)
    scale_factor = 1 + ("c2p" in st["pos_att_type"]) + ("p2c" in st["pos_att_type"])
    scale = float(torch.sqrt(torch.tensor(hd, dtype=torch.float) * scale_factor))

    def split(t):  # [B, S, heads * hd] -> [B, heads, S, hd]
        return t.view(t.shape[0], t.shape[1], heads, hd).permute(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention.self."
        q = split(_linear(x, g(a + "query_proj.weight"), g(a + "query_proj.bias")))
        k = split(_linear(x, g(a + "key_proj.weight"), g(a + "key_proj.bias")))
        v = split(_linear(x, g(a + "value_proj.weight"), g(a + "value_proj.bias")))
        scores = torch.matmul(q, k.transpose(-1, -2)) / scale
        if st["relative_attention"]:
            pos_q = pos_k = None
            if st["share_att_key"]:
                pos_q = _linear(rel_emb, g(a + "query_proj.weight"), g(a + "query_proj.bias"))
                pos_k = _linear(rel_emb, g(a + "key_proj.weight"), g(a + "key_proj.bias"))
            else:
                if "c2p" in st["pos_att_type"]:
                    pos_k = _linear(rel_emb, g(a + "pos_key_proj.weight"), g(a + "pos_key_proj.bias"))
                if "p2c" in st["pos_att_type"]:
                    pos_q = _linear(rel_emb, g(a + "pos_query_proj.weight"), g(a + "pos_query_proj.bias"))

            def heads_of(t):  # [2 span, heads * hd] -> [heads, 2 span, hd]
                return None if t is None else t.view(2 * span, heads, hd).permute(1, 0, 2)

            scores = scores + deberta_disentangled_scores(q, k, heads_of(pos_q), heads_of(pos_k), relative_pos,
                                                          span, st["pos_att_type"], scale)
        # XSoftmax
        scores = scores.masked_fill(~pair_mask, torch.finfo(dtype).min)
        probs = torch.softmax(scores, dim=-1).masked_fill(~pair_mask, 0.0)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(bsz, seq, heads * hd)
        x = _layer_rest(x, ctx, g, p, eps)

    return _deberta_heads(config, w, x, "DebertaV2Model")


def _deberta_embeddings(config, st, g, ids, tt, mask, eps):
    """DebertaEmbeddings / DebertaV2Embeddings (the same code): word (+ position 0..S-1 if
    position_biased_input) (+ token type if type_vocab_size > 0), embed_proj (Linear without bias)
    when embedding_size != hidden_size, LayerNorm, times the attention mask."""
    seq = ids.shape[1]
    hidden = config["hidden_size"]
    x = g("embeddings.word_embeddings.weight")[ids]
    if st["position_biased_input"]:
        x = x + g("embeddings.position_embeddings.weight")[torch.arange(seq)][None]
    if st["type_vocab_size"] > 0:
        x = x + g("embeddings.token_type_embeddings.weight")[tt]
    if config.get("embedding_size", hidden) != hidden:
        x = torch.matmul(x, g("embeddings.embed_proj.weight").t())  # Linear without bias
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    return x * mask[:, :, None].to(x.dtype)


def _deberta_heads(config, w, x, default_arch):
    """The DeBERTa (v1 and v2) heads on the encoder output x -> the forward's numpy outputs."""
    out = {"last_hidden_state": x}
    task = TASKS[(config.get("architectures") or [default_arch])[0]]
    if task in ("sequence_classification", "multiple_choice"):  # MC (v2): classifier Linear(hidden, 1)
        # ContextPooler: dense (pooler_hidden_size x pooler_hidden_size, i.e. hidden) on token 0,
        # then pooler_hidden_act; classifier: Linear(hidden, num_labels). Hugging Face does not
        # return the pooled vector, nor does this.
        pooled = _linear(x[:, 0], w["pooler.dense.weight"], w["pooler.dense.bias"])
        act = config.get("pooler_hidden_act", "gelu")
        if act == "gelu":
            pooled = _gelu_erf(pooled)
        elif act == "tanh":
            pooled = torch.tanh(pooled)
        else:
            raise ValueError(f"pooler_hidden_act {act!r} is not implemented")
        out["logits"] = _linear(pooled, w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


def deberta_v1_settings(config):
    """The relative-attention settings of a DeBERTa v1 config (DebertaConfig / DebertaEncoder /
    DisentangledSelfAttention of modeling_deberta.py): pos_att_type (a "c2p|p2c" string is
    lower-cased and split on "|", as DebertaConfig does), relative_attention (default false),
    max_relative_positions (< 1: max_position_embeddings), position_biased_input (default true),
    type_vocab_size (default 0). v1 has no position buckets, no norm_rel_ebd, no share_att_key."""
    st = deberta_settings(config)
    return {k: st[k] for k in ("relative_attention", "pos_att_type", "max_relative_positions",
                               "position_biased_input", "type_vocab_size")}


def deberta_v1_disentangled_bias(q, k, pos_key, pos_query, relative_pos, att_span, pos_att_type):
    """DisentangledSelfAttention.disentangled_att_bias of modeling_deberta.py (Lq == Lk), with
    torch.gather as Hugging Face writes it.

    q (already divided by the score scale), k: [B, heads, S, d]; pos_key = pos_proj(rel) and
    pos_query = pos_q_proj(rel) / scale split into heads: [heads, 2 span, d] (rel being the centred
    slice of the relative embeddings); relative_pos: [S, S] (i - j).
    c2p[i][j] = (q_i . pos_key[c2p_pos[i][j]]), c2p_pos = clamp(rel + span, 0, 2 span - 1);
    p2c[i][j] = (k_j . pos_query[p2c_pos[j][i]]), p2c_pos = clamp(-rel + span, 0, 2 span - 1)
    (the [key][position] product gathered by p2c_pos, then transposed)."""
    bsz, heads, seq, _ = q.shape
    score = torch.zeros(bsz, heads, seq, seq, dtype=q.dtype)
    if "c2p" in pos_att_type:
        c2p_att = torch.matmul(q, pos_key.transpose(-1, -2)[None])  # [B, h, S(query), 2 span]
        c2p_pos = torch.clamp(relative_pos + att_span, 0, att_span * 2 - 1)
        score = score + torch.gather(c2p_att, -1, c2p_pos[None, None].expand(bsz, heads, seq, seq))
    if "p2c" in pos_att_type:
        p2c_att = torch.matmul(k, pos_query.transpose(-1, -2)[None])  # [B, h, S(key), 2 span]
        p2c_pos = torch.clamp(-relative_pos + att_span, 0, att_span * 2 - 1)
        p2c = torch.gather(p2c_att, -1, p2c_pos[None, None].expand(bsz, heads, seq, seq))
        score = score + p2c.transpose(-1, -2)
    return score


def _forward_deberta_v1(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """modeling_deberta.py in eval mode (DebertaModel + heads), see the module docstring.

    Literally: qp = x·in_projᵀ viewed [B, S, heads, 3 d] and chunked into q, k, v per head
    (transpose_for_scores, then chunk(3, dim=-1)); q += q_bias, v += v_bias (per head); scale =
    sqrt(float32(d) * (1 + len(pos_att_type))) in float32; q /= scale; scores = q·kᵀ + c2p + p2c
    (disentangled_att_bias with att_span = min(S, max_relative_positions) and the rows
    [max_rel - span, max_rel + span) of encoder.rel_embeddings, not LayerNorm'ed); XSoftmax with
    the pairwise mask; then BERT's attention output / FFN blocks (DebertaLayerNorm = LayerNorm).
    The embeddings, the mask handling and the heads are v2's (the same Hugging Face code).
    Not implemented (raises): hidden_act other than gelu, talking_head, "p2p" in pos_att_type."""
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError("only hidden_act 'gelu' is implemented")
    if config.get("talking_head", False):
        raise NotImplementedError("DeBERTa talking_head is not implemented")
    st = deberta_v1_settings(config)
    if "p2p" in st["pos_att_type"]:
        raise NotImplementedError("DeBERTa pos_att_type 'p2p' is not implemented")
    w, g, eps, ids, mask, tt = _deberta_inputs(config, weights, input_ids, attention_mask, token_type_ids,
                                               dtype)
    bsz, seq = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    hd = hidden // heads

    x = _deberta_embeddings(config, st, g, ids, tt, mask, eps)

    # DebertaEncoder: pairwise mask; relative positions i - j (build_relative_position) and the
    # raw relative embeddings, shared by the layers.
    pair_mask = (mask[:, None, :, None] * mask[:, None, None, :]).bool()  # [B, 1, S, S]
    max_rel = st["max_relative_positions"]
    if st["relative_attention"]:
        pos = torch.arange(seq, dtype=torch.long)
        relative_pos = pos[:, None] - pos[None, :]
        att_span = min(seq, max_rel)
        rel = g("encoder.rel_embeddings.weight")[max_rel - att_span:max_rel + att_span]
    scale_factor = 1 + len(st["pos_att_type"])
    scale = float(torch.sqrt(torch.tensor(hd, dtype=torch.float) * scale_factor))

    def transpose_for_scores(t):  # [..., S, heads * n] -> [..., heads, S, n]
        t = t.view(t.shape[:-1] + (heads, -1))
        return t.permute(0, 2, 1, 3) if t.dim() == 4 else t.permute(1, 0, 2)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention.self."
        qp = torch.matmul(x, g(a + "in_proj.weight").t())  # [B, S, 3H], no bias
        q, k, v = transpose_for_scores(qp).chunk(3, dim=-1)  # each [B, heads, S, d]
        q = q + g(a + "q_bias").view(heads, hd)[None, :, None, :]
        v = v + g(a + "v_bias").view(heads, hd)[None, :, None, :]
        q = q / scale
        scores = torch.matmul(q, k.transpose(-1, -2))
        if st["relative_attention"]:
            pos_key = pos_query = None
            if "c2p" in st["pos_att_type"]:
                pos_key = transpose_for_scores(torch.matmul(rel, g(a + "pos_proj.weight").t()))
            if "p2c" in st["pos_att_type"]:
                pos_query = transpose_for_scores(_linear(rel, g(a + "pos_q_proj.weight"), g(a + "pos_q_proj.bias")))
                pos_query = pos_query / scale
            scores = scores + deberta_v1_disentangled_bias(q, k, pos_key, pos_query, relative_pos, att_span,
                                                           st["pos_att_type"])
        # XSoftmax
        scores = scores.masked_fill(~pair_mask, torch.finfo(dtype).min)
        probs = torch.softmax(scores, dim=-1).masked_fill(~pair_mask, 0.0)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        x = _layer_rest(x, ctx, g, p, eps)

    return _deberta_heads(config, w, x, "DebertaModel")


def albert_layer_groups(config):
    """The group each of the num_hidden_layers layers runs (AlbertTransformer.forward:
    int(i / (num_hidden_layers / num_hidden_groups)), a float division as in Hugging Face)."""
    n, groups = int(config["num_hidden_layers"]), int(config.get("num_hidden_groups", 1))
    return [int(i / (n / groups)) for i in range(n)]


def _forward_albert(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """modeling_albert.py in eval mode (AlbertModel + heads), see the module docstring.

    Hugging Face details kept: embedding_hidden_mapping_in is applied whatever embedding_size;
    the attention mask is BERT's additive (1 - mask) * finfo(float32).min on the key axis; the
    MLM head's LayerNorm (embedding_size wide) uses layer_norm_eps, its decoder is
    predictions.decoder.weight when stored (else the word embeddings: tied) plus predictions.bias
    (tied to predictions.decoder.bias in HF). position_embedding_type other than "absolute" is not
    implemented (raises)."""
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise NotImplementedError("ALBERT with relative position embeddings is not implemented")
    act = _activation(config.get("hidden_act", "gelu_new"))
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
    g = lambda n: _get(w, n)  # noqa: E731
    eps = float(config.get("layer_norm_eps", 1e-12))
    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)).to(dtype)
    tt = torch.as_tensor(np.asarray(token_type_ids, dtype=np.int64))
    bsz, seq = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    hd = hidden // heads

    # AlbertEmbeddings (embedding_size wide), then AlbertTransformer.embedding_hidden_mapping_in
    x = g("embeddings.word_embeddings.weight")[ids]
    x = x + g("embeddings.token_type_embeddings.weight")[tt]
    x = x + g("embeddings.position_embeddings.weight")[torch.arange(seq)][None]
    x = _layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    x = _linear(x, g("encoder.embedding_hidden_mapping_in.weight"), g("encoder.embedding_hidden_mapping_in.bias"))

    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

    def split(t):  # [B,S,H] -> [B,heads,S,hd]
        return t.view(bsz, seq, heads, hd).permute(0, 2, 1, 3)

    for group in albert_layer_groups(config):
        for j in range(int(config.get("inner_group_num", 1))):
            p = f"encoder.albert_layer_groups.{group}.albert_layers.{j}."
            q = split(_linear(x, g(p + "attention.query.weight"), g(p + "attention.query.bias")))
            k = split(_linear(x, g(p + "attention.key.weight"), g(p + "attention.key.bias")))
            v = split(_linear(x, g(p + "attention.value.weight"), g(p + "attention.value.bias")))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
            x = _layer_rest(x, ctx, g, p, eps, dense="attention.dense", norm="attention.LayerNorm", ffn_in="ffn",
                            ffn_out="ffn_output", ffn_norm="full_layer_layer_norm", act=act)

    out = {"last_hidden_state": x}
    if any(k == "pooler.weight" or k.endswith(".pooler.weight") for k in w):
        out["pooler_output"] = torch.tanh(_linear(x[:, 0], g("pooler.weight"), g("pooler.bias")))
    task = TASKS[(config.get("architectures") or ["AlbertModel"])[0]]
    # AlbertMLMHead: dense (H -> E), activation (hidden_act), LayerNorm (E), decoder + bias.
    _mlm_head(w, g, out, x, eps, act, "predictions.dense", "predictions.LayerNorm", "predictions")
    if task in ("sequence_classification", "multiple_choice"):  # MC: classifier Linear(hidden, 1)
        out["logits"] = _linear(out["pooler_output"], w["classifier.weight"], w["classifier.bias"])
    _token_heads(task, x, w, out)
    return {k: v.numpy() for k, v in out.items()}


# ------------------------------------------------------------------------------------------------
# ModernBERT (model_type "modernbert", modeling_modernbert.py, the eager attention path)

def modernbert_settings(config):
    """The ModernBertConfig values the reference uses, with Hugging Face's defaults."""
    glob = float(config.get("global_rope_theta", 160000.0))
    local = config.get("local_rope_theta", 10000.0)
    return {
        "hidden": int(config["hidden_size"]), "heads": int(config["num_attention_heads"]),
        "layers": int(config["num_hidden_layers"]), "intermediate": int(config["intermediate_size"]),
        "eps": float(config.get("norm_eps", 1e-5)),
        "every": int(config.get("global_attn_every_n_layers", 3)),
        "local_attention": int(config.get("local_attention", 128)),
        "global_rope_theta": glob, "local_rope_theta": glob if local is None else float(local),
        "hidden_activation": config.get("hidden_activation", "gelu"),
        "classifier_activation": config.get("classifier_activation", "gelu"),
        "classifier_pooling": config.get("classifier_pooling", "cls"),
    }


def modernbert_layer_is_global(i, config):
    """ModernBertAttention: layer i is global when i % global_attn_every_n_layers == 0 (layer 0
    always), else local (sliding window)."""
    return i % modernbert_settings(config)["every"] == 0


def modernbert_rope(seq, head_dim, theta, dtype=torch.float64, hf_float32=True):
    """cos, sin [seq, head_dim] of ModernBertRotaryEmbedding (rope_type "default") for positions
    0..seq-1: inv_freq[j] = 1 / theta ** (2j / head_dim), angle[p, j] = p * inv_freq[j],
    emb = cat(angle, angle). With hf_float32 (the default) every step is float32 as in Hugging Face
    (inv_freq is computed in float32, the product p * inv_freq and cos / sin too, whatever the model
    dtype; the tables are then cast to `dtype`); otherwise all in float64 (self-checks)."""
    if hf_float32:
        inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        ang = torch.arange(seq, dtype=torch.int64).float()[:, None] * inv[None, :]
    else:
        inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).double() / head_dim))
        ang = torch.arange(seq, dtype=torch.int64).double()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def modernbert_rotate_half(x):
    """rotate_half: cat(-x[..., d/2:], x[..., :d/2]) (the two halves, not interleaved pairs)."""
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def modernbert_apply_rope(x, cos, sin):
    """apply_rotary_pos_emb on [..., S, d]: x * cos + rotate_half(x) * sin."""
    return x * cos + modernbert_rotate_half(x) * sin


def modernbert_masks(attention_mask, local_attention, dtype=torch.float64):
    """The additive masks of ModernBertModel._update_attention_mask ([B, 1, S, S]): global = the
    padding mask (finfo(float32).min on padded keys, as the other references), local = global with
    finfo(float32).min also where |query - key| > local_attention // 2 (sliding_window_mask)."""
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64))
    bsz, seq = mask.shape
    neg = torch.finfo(torch.float32).min
    glob = torch.zeros(bsz, 1, seq, seq, dtype=dtype).masked_fill((mask == 0)[:, None, None, :], neg)
    pos = torch.arange(seq)
    window = (pos[None, :] - pos[:, None]).abs() <= local_attention // 2
    return glob, glob.masked_fill(~window[None, None], neg)


def modernbert_attention(q, k, v, add_mask, cos, sin):
    """Eager ModernBERT attention on [B, heads, S, d] q, k, v (before RoPE): RoPE on q and k,
    softmax(q kᵀ * d^-0.5 + add_mask) v -> [B, heads, S, d]."""
    q, k = modernbert_apply_rope(q, cos, sin), modernbert_apply_rope(k, cos, sin)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + add_mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _forward_modernbert(config, weights, input_ids, attention_mask, dtype, rope_float32=True):
    """modeling_modernbert.py in eval mode, eager attention (ModernBertModel + heads).

    Embeddings: LayerNorm(tok_embeddings[ids]) (no positions, no token types). Pre-norm layers:
    x += Wo(attn(attn_norm(x))) (layer 0's attn_norm is the identity: no weights), Wqkv [3H, H]
    split as [S, 3, heads, d] (q = rows 0..H-1, k = H..2H-1, v = 2H..3H-1, head h = rows h*d ..
    h*d + d - 1 of each), RoPE (rotate_half) on q and k with global_rope_theta on global layers
    (i % global_attn_every_n_layers == 0) and local_rope_theta (else the global one) on the others,
    which also mask keys farther than local_attention // 2 from the query; x += Wo(act(in) * gate)
    with (in, gate) = Wi(mlp_norm(x)).chunk(2); last_hidden_state = final_norm(x). Every LayerNorm
    has eps norm_eps and bias only when norm_bias. Heads: ModernBertPredictionHead
    norm(act(dense(h))) (act classifier_activation); ForMaskedLM: decoder tied to tok_embeddings +
    decoder.bias (if decoder_bias) -> mlm_logits; ForSequenceClassification: the head on h[:, 0]
    (classifier_pooling "cls") or the mean over the real tokens ("mean"), then classifier -> logits;
    ForTokenClassification: classifier(head(h)) on every token (padding included) -> logits [B, S, L]
    (classifier_pooling unused); ForQuestionAnswering: the same with 2 labels, split into
    start_logits / end_logits [B, S]. rope_float32: the RoPE tables as Hugging Face computes them (float32), else in float64."""
    st = modernbert_settings(config)
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}

    def g(n, required=True):
        for key in ("model." + n, n):
            if key in w:
                return w[key]
        if required:
            raise KeyError(n)
        return None

    def ln(x, name):  # LayerNorm with bias=norm_bias (absent -> zeros)
        b = g(name + ".bias", False)
        return _layer_norm(x, g(name + ".weight"), 0.0 if b is None else b, st["eps"])

    def linear(x, name):  # Linear with an optional bias
        b = w.get(name + ".bias")
        y = torch.matmul(x, w[name + ".weight"].t())
        return y if b is None else y + b

    def mlinear(x, name):
        return linear(x, ("model." + name) if ("model." + name + ".weight") in w else name)

    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)).to(dtype)
    bsz, seq = ids.shape
    hidden, heads = st["hidden"], st["heads"]
    hd = hidden // heads
    act = _activation(st["hidden_activation"])
    glob_mask, local_mask = modernbert_masks(attention_mask, st["local_attention"], dtype)
    ropes = {t: modernbert_rope(seq, hd, t, dtype, rope_float32)
             for t in {st["global_rope_theta"], st["local_rope_theta"]}}

    x = ln(g("embeddings.tok_embeddings.weight")[ids], "embeddings.norm")
    for i in range(st["layers"]):
        p = f"layers.{i}."
        is_global = modernbert_layer_is_global(i, config)
        a = x if i == 0 else ln(x, p + "attn_norm")
        qkv = mlinear(a, p + "attn.Wqkv").view(bsz, seq, 3, heads, hd)
        q, k, v = (qkv[:, :, j].permute(0, 2, 1, 3) for j in range(3))  # [B, heads, S, d]
        cos, sin = ropes[st["global_rope_theta"] if is_global else st["local_rope_theta"]]
        ctx = modernbert_attention(q, k, v, glob_mask if is_global else local_mask, cos, sin)
        x = x + mlinear(ctx.permute(0, 2, 1, 3).reshape(bsz, seq, hidden), p + "attn.Wo")
        inp, gate = mlinear(ln(x, p + "mlp_norm"), p + "mlp.Wi").chunk(2, dim=-1)
        x = x + mlinear(act(inp) * gate, p + "mlp.Wo")
    x = ln(x, "final_norm")

    out = {"last_hidden_state": x}
    arch = (config.get("architectures") or ["ModernBertModel"])[0]

    def head(h):  # ModernBertPredictionHead
        t = _activation(st["classifier_activation"])(linear(h, "head.dense"))
        b = w.get("head.norm.bias")
        return _layer_norm(t, w["head.norm.weight"], 0.0 if b is None else b, st["eps"])

    if arch == "ModernBertForMaskedLM":
        logits = torch.matmul(head(x), g("embeddings.tok_embeddings.weight").t())
        out["mlm_logits"] = logits + w["decoder.bias"] if "decoder.bias" in w else logits
    elif arch in ("ModernBertForSequenceClassification", "ModernBertForMultipleChoice"):
        # Multiple choice: the same pooling and head, classifier Linear(hidden, 1).
        if st["classifier_pooling"] == "cls":
            pooled = x[:, 0]
        elif st["classifier_pooling"] == "mean":
            pooled = (x * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
        else:
            raise ValueError(f"classifier_pooling {st['classifier_pooling']!r}")
        out["logits"] = linear(head(pooled), "classifier")
    elif arch == "ModernBertForTokenClassification":  # classifier(drop(head(last_hidden_state)))
        out["logits"] = linear(head(x), "classifier")
    elif arch == "ModernBertForQuestionAnswering":  # the same, logits.split(1, dim=-1) -> start, end
        se = linear(head(x), "classifier")
        out["start_logits"], out["end_logits"] = se[..., 0], se[..., 1]
    elif arch != "ModernBertModel":
        raise NotImplementedError(f"{arch} is not implemented")
    return {k: v.numpy() for k, v in out.items()}


# ------------------------------------------------------------------------------------------------
# NomicBERT (model_type "nomic_bert", nomic-ai's modeling_hf_nomic_bert.py, NomicBertModel)

def nomic_settings(config):
    """The NomicBertConfig values the reference uses, refusing the options it does not implement.
    Defaults are NomicBertConfig's / GPT2Config's (rotary_emb_base 1000, qkv_proj_bias,
    mlp_fc1_bias and mlp_fc2_bias true, type_vocab_size 2, layer_norm_epsilon 1e-5,
    rotary_scaling_factor 1.0)."""
    hidden, heads = int(config["n_embd"]), int(config["n_head"])
    hd = hidden // heads
    act = _implemented(config, "NomicBERT", "activation_function", "gelu_new", ("swiglu", "geglu"))
    for key, default in (("prenorm", False), ("causal", False), ("rotary_emb_interleaved", False),
                         ("parallel_block", False), ("use_rms_norm", False)):
        if config.get(key, default):
            raise ValueError(f"NomicBERT {key} true is not implemented")
    if config.get("rotary_emb_scale_base") is not None:
        raise ValueError("NomicBERT rotary_emb_scale_base is not implemented")
    if config.get("rotary_scaling_factor", 1.0) is not None:  # NomicBertDynamicNTKRotaryEmbedding
        raise ValueError("NomicBERT rotary_scaling_factor (dynamic NTK rotary) is not implemented")
    frac = float(config.get("rotary_emb_fraction", 0.0))
    rot = hd * frac
    if frac <= 0 or rot != int(rot) or int(rot) % 2 or rot > hd:
        raise ValueError(f"NomicBERT rotary_emb_fraction {frac} (head_dim {hd}) is not implemented: "
                         "it must be > 0 (no position table) and give an even rotary dim <= head_dim")
    return {
        "hidden": hidden, "heads": heads, "head_dim": hd, "layers": int(config["n_layer"]),
        "rotary_dim": int(rot), "rotary_base": float(config.get("rotary_emb_base", 1000)),
        "eps": float(config.get("layer_norm_epsilon", 1e-5)), "activation": act,
        "type_vocab_size": int(config.get("type_vocab_size", 2)),
        "qkv_proj_bias": bool(config.get("qkv_proj_bias", True)),
        "mlp_fc1_bias": bool(config.get("mlp_fc1_bias", True)),
        "mlp_fc2_bias": bool(config.get("mlp_fc2_bias", True)),
    }


def rope_inv_freq(dim, base):
    """The rotary frequencies as the remote codes compute them (NomicBertRotaryEmbedding, GTE's
    RotaryEmbedding), in float32: 1 / base ** (arange(0, dim, 2, float32) / dim)."""
    return 1.0 / (float(base) ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))


def nomic_rotary(seq, rotary_dim, base, dtype=torch.float64):
    """cos, sin [seq, rotary_dim / 2] of NomicBertRotaryEmbedding (pos_idx_in_fp32, no scale_base)
    for positions 0..seq-1, computed in float32 as Hugging Face does whatever the model dtype:
    inv_freq = 1 / base ** (arange(0, rotary_dim, 2, float32) / rotary_dim), t = arange(seq, float32),
    freqs = outer(t, inv_freq), cos / sin of that in float32, then cast to `dtype`."""
    freqs = torch.outer(torch.arange(seq, dtype=torch.float32), rope_inv_freq(rotary_dim, base))
    return torch.cos(freqs).to(dtype), torch.sin(freqs).to(dtype)


def nomic_apply_rotary(x, cos, sin):
    """apply_rotary_emb, not interleaved, on [B, S, heads, d]: the first 2 * cos.shape[-1] channels
    become x * cat(cos, cos) + rotate_half(x) * cat(sin, sin) (rotate_half: cat(-x2, x1) of the two
    halves), the rest pass through."""
    ro = cos.shape[-1] * 2
    c = torch.cat([cos, cos], dim=-1)[None, :, None, :]
    s = torch.cat([sin, sin], dim=-1)[None, :, None, :]
    xr = x[..., :ro]
    x1, x2 = xr[..., :ro // 2], xr[..., ro // 2:]
    return torch.cat([xr * c + torch.cat([-x2, x1], dim=-1) * s, x[..., ro:]], dim=-1)


def _rotary_inputs(weights, input_ids, attention_mask, token_type_ids, dtype):
    """The NomicBERT / GTE forwards' tensors: weights in `dtype`, ids, the mask (in `dtype`), type ids."""
    w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)).to(dtype) for k, v in weights.items()}
    ids = torch.as_tensor(np.asarray(input_ids, dtype=np.int64))
    mask = torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)).to(dtype)
    tt = torch.as_tensor(np.asarray(token_type_ids, dtype=np.int64))
    return w, ids, mask, tt


def _forward_nomic(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """modeling_hf_nomic_bert.py NomicBertModel in eval mode (no pooler: add_pooling_layer=False,
    as it is loaded for embeddings), post-norm blocks (prenorm false).

    Embeddings: emb_ln(word_embeddings[ids] + token_type_embeddings[type ids]) (no position table:
    rotary_emb_fraction > 0; the type table only if type_vocab_size > 0), eps layer_norm_epsilon.
    Each of the n_layer NomicBertBlocks: qkv = attn.Wqkv(x) (+ bias if qkv_proj_bias) split as
    "... (three h d)": q = outputs 0..H-1, k = H..2H-1, v = 2H..3H-1, head n = d*n .. d*n + d - 1 of
    each; rotary (NomicBertRotaryEmbedding, not interleaved, rotary dim head_dim *
    rotary_emb_fraction, base rotary_emb_base, float32 cos / sin tables: `nomic_rotary`) on q and k
    at positions 0..S-1 of the padded batch; scores q kᵀ / norm_factor (sqrt(head_dim) computed in
    float32, as the model's buffer) + (1 - mask) * finfo(float32).min on padded keys, softmax, ctx =
    probs v, attn.out_proj (+ bias if qkv_proj_bias); x = norm1(attn_out + x); NomciBertGatedMLP
    y = fc11(x) * act(fc12(x)) (act SiLU for "swiglu", exact erf GELU for "geglu"; fc11 / fc12 biases
    if mlp_fc1_bias), mlp_out = fc2(y) (+ bias if mlp_fc2_bias); x = norm2(mlp_out + x).
    last_hidden_state = x (no final norm). The MLP width is the weights' (Hugging Face's class rounds
    n_inner up to a multiple of 256: the published checkpoints' 3072 is one)."""
    st = nomic_settings(config)
    w, ids, mask, tt = _rotary_inputs(weights, input_ids, attention_mask, token_type_ids, dtype)
    bsz, seq = ids.shape
    hidden, heads, hd, eps = st["hidden"], st["heads"], st["head_dim"], st["eps"]

    def linear(x, name, bias):
        y = torch.matmul(x, w[name + ".weight"].t())
        return y + w[name + ".bias"] if bias else y

    def ln(x, name):
        return _layer_norm(x, w[name + ".weight"], w[name + ".bias"], eps)

    act = torch.nn.functional.silu if st["activation"] == "swiglu" else _gelu_erf
    x = w["embeddings.word_embeddings.weight"][ids]
    if st["type_vocab_size"] > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, "emb_ln")
    cos, sin = nomic_rotary(seq, st["rotary_dim"], st["rotary_base"], dtype)
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    norm_factor = float(torch.sqrt(torch.tensor(float(hd), dtype=torch.float32)))
    for i in range(st["layers"]):
        p = f"encoder.layers.{i}."
        qkv = linear(x, p + "attn.Wqkv", st["qkv_proj_bias"]).view(bsz, seq, 3, heads, hd)
        q = nomic_apply_rotary(qkv[:, :, 0], cos, sin).permute(0, 2, 1, 3)  # [B, heads, S, d]
        k = nomic_apply_rotary(qkv[:, :, 1], cos, sin).permute(0, 2, 1, 3)
        v = qkv[:, :, 2].permute(0, 2, 1, 3)
        scores = torch.matmul(q, k.transpose(-1, -2)) / norm_factor + ext
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        x = ln(linear(ctx, p + "attn.out_proj", st["qkv_proj_bias"]) + x, p + "norm1")
        y = linear(x, p + "mlp.fc11", st["mlp_fc1_bias"]) * act(linear(x, p + "mlp.fc12", st["mlp_fc1_bias"]))
        x = ln(linear(y, p + "mlp.fc2", st["mlp_fc2_bias"]) + x, p + "norm2")
    arch = (config.get("architectures") or ["NomicBertModel"])[0]
    if arch != "NomicBertModel":
        raise NotImplementedError(f"{arch} is not implemented")
    return {"last_hidden_state": x.numpy()}


# ------------------------------------------------------------------------------------------------
# GTE v1.5 (model_type "new", Alibaba-NLP/new-impl's remote code modeling.py, NewModel)

GTE_ACTIVATIONS = {"gelu": _gelu_erf, "silu": torch.nn.functional.silu}


def gte_settings(config):
    """The NewConfig values the reference uses, refusing the options it does not implement.
    Defaults are NewConfig's (configuration.py): hidden_act "gelu", type_vocab_size 1,
    max_position_embeddings 2048, layer_norm_type "layer_norm", layer_norm_eps 1e-12,
    position_embedding_type "rope", rope_theta 10000, rope_scaling null, pack_qkv true,
    logn_attention_scale false. unpad_inputs / use_memory_efficient_attention (xformers) are
    accepted: they give the same numbers on the real tokens (the same positions 0..n-1 of each
    right-padded sequence, the same scale and softmax; unpadded runs return zeros at the padded
    positions instead of the eager path's values there)."""
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    if hidden % heads or (hidden // heads) % 2:
        raise ValueError(f"GTE hidden_size {hidden} / num_attention_heads {heads}: the head size must be "
                         "a whole, even number (rotary on all of it)")
    hd = hidden // heads
    act = _implemented(config, "GTE", "hidden_act", "gelu", tuple(GTE_ACTIVATIONS))
    _implemented(config, "GTE", "position_embedding_type", "rope", ("rope",))
    _implemented(config, "GTE", "layer_norm_type", "layer_norm", ("layer_norm",))
    if config.get("logn_attention_scale", False):
        raise ValueError("GTE logn_attention_scale true is not implemented")
    if not config.get("pack_qkv", True):
        raise ValueError("GTE pack_qkv false (separate q_proj / k_proj / v_proj) is not implemented")
    scaling = config.get("rope_scaling")
    ntk = None
    if scaling is not None:
        if not isinstance(scaling, dict) or scaling.get("type") != "ntk":
            raise ValueError(f"GTE rope_scaling {scaling!r} is not implemented (only type ntk)")
        if scaling.get("mixed_b") is not None:
            raise ValueError("GTE rope_scaling mixed_b (mixed NTK scaling) is not implemented")
        ntk = float(scaling["factor"])
        if not ntk > 1.0:
            # factor <= 1: the cache built at load keeps the unscaled frequencies, and the first
            # sequence longer than max_position_embeddings switches the model to the scaled ones
            # for good (the result depends on what ran before).
            raise ValueError(f"GTE rope_scaling ntk factor {scaling['factor']!r} is not implemented (> 1)")
    return {
        "hidden": hidden, "heads": heads, "head_dim": hd, "layers": int(config["num_hidden_layers"]),
        "intermediate": int(config["intermediate_size"]), "activation": act,
        "eps": float(config.get("layer_norm_eps", 1e-12)),
        "type_vocab_size": int(config.get("type_vocab_size", 1)),
        "max_position": int(config.get("max_position_embeddings", 2048)),
        "rope_theta": config.get("rope_theta", 10000.0), "ntk_factor": ntk,
    }


def gte_inv_freq(head_dim, theta, ntk_factor=None):
    """inv_freq [head_dim / 2] in float32 as the remote code computes it: RotaryEmbedding's
    1 / theta ** (arange(0, d, 2) / d) without rope_scaling; with {"type": "ntk", "factor": f}
    (no mixed_b, f > 1) NTKScalingRotaryEmbedding's, which applies whenever its cache covers more
    than max_position_embeddings positions — always: it is built at load for
    max_position_embeddings * f — : 1 / (theta * f) ** (arange(0, d, 2) / d) / f ** (2 / d)."""
    if ntk_factor is None:
        return rope_inv_freq(head_dim, theta)
    return rope_inv_freq(head_dim, theta * ntk_factor) / ntk_factor ** (2 / head_dim)


def gte_rotary(seq, head_dim, theta, ntk_factor, max_position, dtype=torch.float64):
    """cos, sin [seq, head_dim] of the remote code's rotary embedding for positions 0..seq-1, every
    step in float32 as there, whatever the model dtype: freqs = einsum("i,j->ij", t, inv_freq) over
    the cached positions t = arange(max_position_embeddings (* f with NTK scaling), float32) — or
    arange(seq) when seq is longer, as forward rebuilds the cache —, emb = cat(freqs, freqs), cos /
    sin of emb (over the whole cache, as the model does), the first seq rows, cast to `dtype`."""
    cached = max_position * ntk_factor if ntk_factor is not None else max_position
    n = seq if seq > cached else math.ceil(cached)
    freqs = torch.einsum("i,j->ij", torch.arange(n, dtype=torch.float32), gte_inv_freq(head_dim, theta, ntk_factor))
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:seq].to(dtype), emb.sin()[:seq].to(dtype)


def _forward_gte(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """Alibaba-NLP/new-impl modeling.py NewModel in eval mode (no pooler: add_pooling_layer=False,
    as it is loaded for embeddings), the eager attention (NewAttention._attention), padded inputs.

    Embeddings: embeddings.LayerNorm(word_embeddings[ids] + token_type_embeddings[type ids]) (no
    position table: position_embedding_type "rope"; the type table only if type_vocab_size > 0),
    eps layer_norm_eps. Each of the num_hidden_layers NewLayers: qkv = attention.qkv_proj(x) (with
    bias) split in three blocks of H outputs (q, k, v), each viewed [heads, head_dim] (head n =
    outputs n*d .. n*d + d - 1 of its block); rotary (rotate_half, dim head_dim, float32 tables:
    `gte_rotary`) on q and k at positions 0..S-1 of the padded batch; scores q kᵀ / sqrt(head_dim)
    + (1 - mask) * finfo(float32).min on padded keys, softmax, ctx = probs v, attention.o_proj (with
    bias); x = attn_ln(x + attn_out); NewGatedMLP: up, gate = mlp.up_gate_proj(x) (no bias) split
    at intermediate_size (up first, gate second), mlp_out = mlp.down_proj(act(gate) * up) (with
    bias), act erf GELU ("gelu") or SiLU ("silu"); x = mlp_ln(x + mlp_out). last_hidden_state = x
    (no final norm)."""
    st = gte_settings(config)
    w, ids, mask, tt = _rotary_inputs(weights, input_ids, attention_mask, token_type_ids, dtype)
    bsz, seq = ids.shape
    hidden, heads, hd, inter, eps = st["hidden"], st["heads"], st["head_dim"], st["intermediate"], st["eps"]

    def linear(x, name, bias=True):
        y = torch.matmul(x, w[name + ".weight"].t())
        return y + w[name + ".bias"] if bias else y

    def ln(x, name):
        return _layer_norm(x, w[name + ".weight"], w[name + ".bias"], eps)

    act = GTE_ACTIVATIONS[st["activation"]]
    x = w["embeddings.word_embeddings.weight"][ids]
    if st["type_vocab_size"] > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, "embeddings.LayerNorm")
    cos, sin = gte_rotary(seq, hd, st["rope_theta"], st["ntk_factor"], st["max_position"], dtype)
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    for i in range(st["layers"]):
        p = f"encoder.layer.{i}."
        qkv = linear(x, p + "attention.qkv_proj").view(bsz, seq, 3, heads, hd)
        q, k, v = (qkv[:, :, j].permute(0, 2, 1, 3) for j in range(3))  # [B, heads, S, d]
        q, k = modernbert_apply_rope(q, cos, sin), modernbert_apply_rope(k, cos, sin)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        x = ln(x + linear(ctx, p + "attention.o_proj"), p + "attn_ln")
        up, gate = torch.split(linear(x, p + "mlp.up_gate_proj", bias=False), inter, dim=-1)
        x = ln(x + linear(act(gate) * up, p + "mlp.down_proj"), p + "mlp_ln")
    arch = (config.get("architectures") or ["NewModel"])[0]
    if arch != "NewModel":
        raise NotImplementedError(f"{arch} is not implemented")
    return {"last_hidden_state": x.numpy()}


# ------------------------------------------------------------------------------------------------
# JinaBERT (model_type "bert" + position_embedding_type "alibi", jinaai/jina-bert-implementation's
# remote code modeling_bert.py: JinaBertModel, JinaBertForSequenceClassification; and the
# jinaai/jina-bert-v2-qk-post-norm variant of jina-embeddings-v2-base-code)

def jina_is_qk_post_norm(config):
    """Whether a JinaBERT config.json is the jinaai/jina-bert-v2-qk-post-norm variant
    (jina-embeddings-v2-base-code): some auto_map entry (a string, or a list of them) names
    "qk-post-norm". Its config has no other key telling it from jina-embeddings-v2's."""
    for v in (config.get("auto_map") or {}).values():
        for s in (v if isinstance(v, (list, tuple)) else [v]):
            if isinstance(s, str) and "qk-post-norm" in s:
                return True
    return False


def jina_settings(config):
    """The JinaBertConfig values the reference uses, refusing the options it does not implement.
    Defaults are JinaBertConfig's (configuration_bert.py: BertConfig's plus feed_forward_type
    "original", emb_pooler null, attn_implementation "torch"). hidden_act is not read: the GEGLU MLP
    applies nn.GELU() (erf) whatever it says, and the pooler is tanh. emb_pooler ("mean") only
    steers the remote code's encode() helper, attn_implementation "torch" (scaled_dot_product_attention
    with the mask + ALiBi as its attn_mask) or null (the eager path) the same numbers: both are
    accepted. qk_post_norm: the jina-bert-v2-qk-post-norm variant (`jina_is_qk_post_norm`)."""
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    if hidden % heads:
        raise ValueError(f"JinaBERT hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    _implemented(config, "JinaBERT", "position_embedding_type", "absolute", ("alibi",))
    _implemented(config, "JinaBERT", "feed_forward_type", "original", ("geglu",))
    for key in ("is_decoder", "add_cross_attention"):
        if config.get(key, False):
            raise ValueError(f"JinaBERT {key} true is not implemented")
    return {
        "hidden": hidden, "heads": heads, "head_dim": hidden // heads, "layers": int(config["num_hidden_layers"]),
        "intermediate": int(config["intermediate_size"]), "eps": float(config.get("layer_norm_eps", 1e-12)),
        "qk_post_norm": jina_is_qk_post_norm(config),
    }


def jina_alibi_slopes(n_heads):
    """The per-head ALiBi slopes (python floats) of the remote code's
    JinaBertEncoder.rebuild_alibi_tensor._get_alibi_head_slopes (the ALiBi paper's): for a power of
    two n, start * start**i (i < n) with start = 2^(-2^-(log2(n) - 3)), i.e. 2^(-8(i + 1)/n); otherwise
    those of the largest power of two p below n_heads followed by every other slope of 2p (the
    first n_heads - p of slopes(2p)[0::2])."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return get_slopes_power_of_2(n_heads)
    p = 2 ** math.floor(math.log2(n_heads))
    return get_slopes_power_of_2(p) + jina_alibi_slopes(2 * p)[0::2][: n_heads - p]


def jina_alibi(seq, n_heads, dtype=torch.float64):
    """The ALiBi bias [heads, seq, seq]: -slope_h * |i - j|, the slopes rounded to float32 as the
    remote code's torch.Tensor(slopes) and the product computed in `dtype` (float64: exact; the
    remote code multiplies the float32 slopes by the int64 distances in float32, which rounds a
    product to 2^-24 relative — nothing for power-of-two slopes)."""
    slopes = torch.tensor(jina_alibi_slopes(n_heads), dtype=torch.float32).to(dtype)
    pos = torch.arange(seq)
    dist = (pos[None, :] - pos[:, None]).abs().to(dtype)
    return -slopes[:, None, None] * dist[None]


def _forward_jina(config, weights, input_ids, attention_mask, token_type_ids, dtype):
    """jinaai/jina-bert-implementation modeling_bert.py in eval mode: JinaBertModel (with its pooler
    when the weights have one) and JinaBertForSequenceClassification, the eager attention
    (JinaBertSelfAttention without scaled_dot_product_attention: the same numbers), padded inputs.

    Embeddings: embeddings.LayerNorm(word_embeddings[ids] + token_type_embeddings[type ids]) (no
    position table: position_embedding_type "alibi"), eps layer_norm_eps. Each of the
    num_hidden_layers JinaBertLayers: q, k, v = attention.self.{query,key,value}(x) (with bias),
    head n = outputs n*d .. n*d + d - 1; scores q kᵀ / sqrt(head_dim) + (1 - mask) * finfo(float32).min
    on padded keys + ALiBi -slope_n * |i - j| (`jina_alibi`: JinaBertEncoder's alibi buffer sliced to
    the padded length, so a row's bias depends on i - j only), softmax, ctx = probs v;
    x = attention.output.LayerNorm(attention.output.dense(ctx) + x); JinaBertGLUMLP: u =
    mlp.gated_layers(x) (no bias) [.., 2 intermediate_size], y = gelu(u[..., :I]) * u[..., I:] (erf
    GELU on the first half, the "gated" one), x = mlp.layernorm(mlp.wo(y) + x). last_hidden_state = x;
    pooler_output = tanh(pooler.dense(x[:, 0])); JinaBertForSequenceClassification: logits =
    classifier(pooler_output). Names BERT's, with or without the "bert." prefix.

    The qk-post-norm variant (st["qk_post_norm"]; jinaai/jina-bert-v2-qk-post-norm, whose remote
    code is not at hand: as text-embeddings-inference's python port FlashJinaBert computes it): q =
    attention.self.layer_norm_q(query(x)), k = attention.self.layer_norm_k(key(x)) (LayerNorms over
    the whole hidden size, per token, before the head split; v as above), the same scores and
    a = attention.output.LayerNorm(attention.output.dense(ctx) + x); then r = layer_norm_1(x + a),
    u = mlp.up_gated_layer(r) (no bias), x = layer_norm_2(r + mlp.down_layer(u[..., :I] *
    gelu(u[..., I:]))) (erf GELU on the SECOND half, the "gated" one here). Embeddings, pooler and
    heads as above; JinaBertForMaskedLM is taken as its encoder (last_hidden_state)."""
    st = jina_settings(config)
    w, ids, mask, tt = _rotary_inputs(weights, input_ids, attention_mask, token_type_ids, dtype)
    bsz, seq = ids.shape
    hidden, heads, hd, inter, eps = st["hidden"], st["heads"], st["head_dim"], st["intermediate"], st["eps"]

    def g(name):
        return _get(w, name)

    def linear(x, name, bias=True):
        y = torch.matmul(x, g(name + ".weight").t())
        return y + g(name + ".bias") if bias else y

    def ln(x, name):
        return _layer_norm(x, g(name + ".weight"), g(name + ".bias"), eps)

    def split(t):  # [B, S, H] -> [B, heads, S, d]
        return t.view(bsz, seq, heads, hd).permute(0, 2, 1, 3)

    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.token_type_embeddings.weight")[tt]
    x = ln(x, "embeddings.LayerNorm")
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    alibi = jina_alibi(seq, heads, dtype)[None]  # [1, heads, S, S]
    qk_post_norm = st["qk_post_norm"]
    for i in range(st["layers"]):
        p = f"encoder.layer.{i}."
        q = linear(x, p + "attention.self.query")
        k = linear(x, p + "attention.self.key")
        if qk_post_norm:  # over the whole hidden size, before the head split
            q, k = ln(q, p + "attention.self.layer_norm_q"), ln(k, p + "attention.self.layer_norm_k")
        q, k = split(q), split(k)
        v = split(linear(x, p + "attention.self.value"))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext + alibi
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(bsz, seq, hidden)
        a = ln(linear(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        if qk_post_norm:
            r = ln(x + a, p + "layer_norm_1")
            u = linear(r, p + "mlp.up_gated_layer", bias=False)
            assert u.shape[-1] == 2 * inter, (u.shape, inter)
            m = u[..., :inter] * _gelu_erf(u[..., inter:])
            x = ln(r + linear(m, p + "mlp.down_layer"), p + "layer_norm_2")
        else:
            u = linear(a, p + "mlp.gated_layers", bias=False)
            assert u.shape[-1] == 2 * inter, (u.shape, inter)
            x = ln(linear(_gelu_erf(u[..., :inter]) * u[..., inter:], p + "mlp.wo") + a, p + "mlp.layernorm")
    out = {"last_hidden_state": x}
    if any(k.endswith("pooler.dense.weight") for k in w):
        out["pooler_output"] = torch.tanh(linear(x[:, 0], "pooler.dense"))
    arch = (config.get("architectures") or ["JinaBertModel"])[0]
    if arch not in ("JinaBertModel", "JinaBertForMaskedLM", "JinaBertForSequenceClassification"):
        raise NotImplementedError(f"{arch} is not implemented")
    if TASKS[arch] == "sequence_classification":
        out["logits"] = _linear(out["pooler_output"], w["classifier.weight"], w["classifier.bias"])
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
# DeBERTa-v2 / v3's tokenizer (DebertaV2Tokenizer, vocab_type "spm") over the sentencepiece library

DEBERTA_SPECIALS = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")


def deberta_token_ids(sp):
    """{token: id} of DebertaV2Tokenizer over SentencePieceProcessor `sp`: the pieces at their
    SentencePiece ids, then the specials the model lacks ([MASK] for DeBERTa-v3) as added tokens
    numbered from the piece count on."""
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    for t in DEBERTA_SPECIALS:
        if t not in vocab:
            vocab[t] = len(vocab)
    return vocab


def deberta_tokenize(sp, text, do_lower_case=False):
    """DebertaV2Tokenizer.tokenize + convert_tokens_to_ids, with split_by_punct false.

    The special tokens written in the text are split out first (PreTrainedTokenizer.tokenize);
    every other segment goes through SPMTokenizer.tokenize: sp.encode(segment, out_type=str) and
    each piece kept if it is in the vocabulary (and not "<unk>"), else "[UNK]" — the surface of
    an unknown run ("H", "K]") is not a piece; the token's id is its vocabulary id.
    Returns [(token, id, (byte_begin, byte_end))]: the offsets are the UTF-8 byte span of the
    token's surface in `text` (as the sentencepiece library reports it), without the whitespace
    a leading "▁" stands for; "▁" alone (before an unknown run) spans nothing."""
    vocab = deberta_token_ids(sp)
    out = []
    pos = 0

    def byte_at(c):
        return len(text[:c].encode("utf-8"))

    def segment(begin, end):
        seg = text[begin:end]
        if do_lower_case:
            seg = seg.lower()
        pieces = sp.encode(seg, out_type=str)
        proto = sp.encode(seg, out_type="immutable_proto").pieces
        assert [p.piece for p in proto] == pieces
        for p in proto:
            tok = p.piece if p.piece in vocab and p.piece != "<unk>" else "[UNK]"
            assert vocab[tok] == (sp.unk_id() if sp.is_unknown(p.id) else p.id)
            b, e = begin + p.begin, begin + p.end  # characters of `text`
            while b < e and text[b] in " \t\n\r":
                b += 1
            out.append((tok, vocab[tok], (byte_at(b), byte_at(e))))

    while pos <= len(text):
        hits = [(text.find(t, pos), -len(t), t) for t in DEBERTA_SPECIALS if text.find(t, pos) >= 0]
        if not hits:
            segment(pos, len(text))
            break
        at, _, tok = min(hits)
        segment(pos, at)
        out.append((tok, vocab[tok], (byte_at(at), byte_at(at + len(tok)))))
        pos = at + len(tok)
    return out


def deberta_encode(sp, text, pair=None):
    """[CLS] a [SEP] (b [SEP]) as DebertaV2Tokenizer builds them -> (tokens, ids, type_ids,
    offsets); type ids 0 for [CLS] a [SEP], 1 for b [SEP]; the added specials span (0, 0)."""
    vocab = deberta_token_ids(sp)
    cls, sep = ("[CLS]", vocab["[CLS]"], (0, 0)), ("[SEP]", vocab["[SEP]"], (0, 0))
    toks, types = bert_template(cls, sep, deberta_tokenize(sp, text),
                                None if pair is None else deberta_tokenize(sp, pair))
    return [t[0] for t in toks], [t[1] for t in toks], types, [list(t[2]) for t in toks]


def bert_template(cls, sep, a, b=None):
    """[CLS] a [SEP] (b [SEP]) over token tuples -> (tokens, type ids 0 for [CLS] a [SEP], 1 for
    b [SEP])."""
    toks = [cls] + a + [sep]
    types = [0] * len(toks)
    if b is not None:
        toks += b + [sep]
        types += [1] * (len(b) + 1)
    return toks, types


# ------------------------------------------------------------------------------------------------
# DeBERTa v1's tokenizer (DebertaTokenizer, the slow one: GPT-2 byte-level BPE, vocab.json + merges.txt)

# DebertaTokenizer's special tokens (bos/cls "[CLS]", eos/sep "[SEP]", unk "[UNK]", pad "[PAD]",
# mask "[MASK]"), all in vocab.json; "[MASK]" is AddedToken(lstrip=True): it takes the whitespace
# before it; the others are AddedTokens without lstrip / rstrip.
DEBERTA_V1_SPECIALS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")
DEBERTA_V1_LSTRIP = ("[MASK]",)
# GPT-2's pre-tokenizer, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, with
# \p{L} / \p{N} / \s written for ASCII (the `regex` module is not available): exact on ASCII text only
# (the ASCII White_Space characters are \t \n \v \f \r and space; Python's \s would add \x1c-\x1f).
_WS = r"\t\n\x0b\x0c\r "
GPT2_PRETOKENIZE_ASCII = (r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{ws}A-Za-z0-9]+|[{ws}]+(?![^{ws}])|[{ws}]+"
                          .format(ws=_WS))


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (byte-level BPE): the printable Latin-1 bytes
    (! .. ~, ¡ .. ¬, ® .. ÿ) map to themselves, the other bytes to chr(256 + n) in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def load_bpe(model_dir):
    """vocab.json -> {token: id}; merges.txt -> {(a, b): rank} (GPT2Tokenizer: the "#version"
    line and empty lines skipped, rank = order in the file)."""
    with open(os.path.join(model_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    ranks = {}
    with open(os.path.join(model_dir, "merges.txt"), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line and not line.startswith("#version"):
                a, b = line.split()
                ranks[(a, b)] = len(ranks)
    return vocab, ranks


def bpe_word(symbols, ranks):
    """GPT2Tokenizer.bpe: repeatedly merge the adjacent pair of lowest rank (every occurrence,
    left to right, without overlap) until no adjacent pair is in the merges."""
    word = list(symbols)
    while len(word) > 1:
        pairs = {(a, b) for a, b in zip(word, word[1:])}
        best = min(pairs, key=lambda pr: ranks.get(pr, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return word


def gpt2_bpe_tokenize(vocab, ranks, text):
    """GPT2Tokenizer._tokenize + convert_tokens_to_ids on text without special tokens (ASCII):
    pre-tokenize (GPT2_PRETOKENIZE_ASCII), map each pre-token's UTF-8 bytes through
    bytes_to_unicode, BPE-merge it; a token missing from vocab.json would be [UNK] (never happens
    when the 256 byte symbols are in it). -> [(token, id)]."""
    import re
    if not all(ord(c) < 128 for c in text):
        raise ValueError("gpt2_bpe_tokenize: the ASCII pre-tokenizer needs ASCII text")
    b2u = bytes_to_unicode()
    out = []
    for pre in re.findall(GPT2_PRETOKENIZE_ASCII, text):
        for tok in bpe_word([b2u[b] for b in pre.encode("utf-8")], ranks):
            out.append((tok, vocab.get(tok, vocab["[UNK]"])))
    return out


def deberta_v1_tokenize(vocab, ranks, text):
    """DebertaTokenizer.tokenize + convert_tokens_to_ids (add_prefix_space false, no lower case).

    PreTrainedTokenizer.tokenize: the special tokens written in the text (DEBERTA_V1_SPECIALS)
    are split out first (leftmost, then longest); "[MASK]" (lstrip) strips the whitespace at the
    end of the chunk before it; empty chunks are dropped; every other chunk goes through
    gpt2_bpe_tokenize (so a space after a special token stays: "[SEP] b" -> "[SEP]", "Ġb").
    -> [(token, id)]."""
    chunks, pos = [], 0
    while True:
        hits = [(text.find(t, pos), -len(t), t) for t in DEBERTA_V1_SPECIALS if text.find(t, pos) >= 0]
        if not hits:
            chunks.append((False, text[pos:]))
            break
        at, _, tok = min(hits)
        chunks += [(False, text[pos:at]), (True, tok)]
        pos = at + len(tok)
    for i, (special, tok) in enumerate(chunks):
        if special and tok in DEBERTA_V1_LSTRIP and i > 0 and not chunks[i - 1][0]:
            chunks[i - 1] = (False, chunks[i - 1][1].rstrip())
    out = []
    for special, tok in chunks:
        if special:
            out.append((tok, vocab[tok]))
        elif tok:
            out.extend(gpt2_bpe_tokenize(vocab, ranks, tok))
    return out


def deberta_v1_encode(vocab, ranks, text, pair=None):
    """[CLS] a [SEP] (b [SEP]) as DebertaTokenizer builds them -> (tokens, ids, type_ids); type
    ids 0 for [CLS] a [SEP], 1 for b [SEP] (create_token_type_ids_from_sequences)."""
    cls, sep = ("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])
    toks, types = bert_template(cls, sep, deberta_v1_tokenize(vocab, ranks, text),
                                None if pair is None else deberta_v1_tokenize(vocab, ranks, pair))
    return [t[0] for t in toks], [t[1] for t in toks], types


def load_bpe_tokenizer_json(model_dir):
    """A byte-level BPE tokenizer.json (ModernBERT's shape) -> ({token: id} of model.vocab and the
    added tokens, {(a, b): rank}); merges as "a b" strings or ["a", "b"] pairs."""
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        doc = json.load(f)
    if doc["model"]["type"] != "BPE":
        raise ValueError("load_bpe_tokenizer_json: not a BPE tokenizer.json")
    vocab = dict(doc["model"]["vocab"])
    for a in doc.get("added_tokens") or []:
        vocab[a["content"]] = a["id"]
    ranks = {}
    for m in doc["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        ranks[(a, b)] = len(ranks)
    return vocab, ranks


def modernbert_encode(vocab, ranks, text, pair=None):
    """ModernBERT's tokenizer (PreTrainedTokenizerFast over its tokenizer.json) on ASCII text ->
    (tokens, ids, type_ids). The tokenizers library splits the added special tokens ([PAD] [UNK]
    [CLS] [SEP] [MASK], normalized false: matched on the raw text) out first, [MASK] (lstrip) taking
    the whitespace before it; each other chunk: the NFC normalizer (nothing to do on ASCII), the
    ByteLevel pre-tokenizer (add_prefix_space false, GPT-2's regex), BPE by merge rank; then the
    TemplateProcessing post-processor: [CLS]:0 $A:0 [SEP]:0 (+ $B:1 [SEP]:1). On ASCII this is
    exactly what deberta_v1_encode computes (the slow DebertaTokenizer with the same specials and
    template), which it runs."""
    return deberta_v1_encode(vocab, ranks, text, pair)


# ------------------------------------------------------------------------------------------------
# ALBERT's tokenizer (the slow AlbertTokenizer over spiece.model) over the sentencepiece library

# AlbertTokenizer's special tokens (bos/cls "[CLS]", eos/sep "[SEP]", unk "<unk>", pad "<pad>",
# mask "[MASK]") in PreTrainedTokenizer.all_special_tokens' order; pieces of spiece.model.
ALBERT_SPECIALS = ("[CLS]", "[SEP]", "<unk>", "<pad>", "[MASK]")
# AddedToken(lstrip=True): "[MASK]" takes the whitespace before it.
ALBERT_LSTRIP = ("[MASK]",)
SPIECE_UNDERLINE = "\u2581"


def albert_preprocess(text, remove_space=True, keep_accents=False, do_lower_case=True):
    """AlbertTokenizer.preprocess_text."""
    import unicodedata
    out = " ".join(text.strip().split()) if remove_space else text
    out = out.replace("``", '"').replace("''", '"')
    if not keep_accents:
        out = unicodedata.normalize("NFKD", out)
        out = "".join(c for c in out if not unicodedata.combining(c))
    if do_lower_case:
        out = out.lower()
    return out


def albert_pieces(sp, text):
    """AlbertTokenizer._tokenize: preprocess_text, sp.encode(out_type=str), then the digit-comma
    rule of google-research/bert: a piece ending in <digit>"," is re-encoded without its "▁"s
    and the comma (plus a dummy-prefix "▁" dropped again when the piece had none), and the
    comma appended as a piece of its own."""
    pieces = sp.encode(albert_preprocess(text), out_type=str)
    out = []
    for piece in pieces:
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            cur = sp.encode(piece[:-1].replace(SPIECE_UNDERLINE, ""), out_type=str)
            if piece[0] != SPIECE_UNDERLINE and cur[0][0] == SPIECE_UNDERLINE:
                if len(cur[0]) == 1:
                    cur = cur[1:]
                else:
                    cur[0] = cur[0][1:]
            cur.append(piece[-1])
            out.extend(cur)
        else:
            out.append(piece)
    return out


def albert_tokenize(sp, text):
    """AlbertTokenizer.tokenize + convert_tokens_to_ids (do_lower_case, remove_space, no accents)
    -> [(token, id)].

    PreTrainedTokenizer.tokenize: the text is lower-cased except the special tokens written in it
    (one character at a time, as HF's re.sub does: "<UNK>" becomes the special "<unk>", "[Mask]"
    the plain text "[mask]"), then split on them (ALBERT_SPECIALS, matched case-sensitively, the
    leftmost and then longest first); "[MASK]" (lstrip) strips the whitespace at the end of the
    chunk before it (no change to the ids: preprocess_text strips that chunk anyway); the empty
    chunks are dropped and every other chunk goes through `albert_pieces`. A token's id is
    sp.piece_to_id(token): a piece the model lacks (the surface of an unknown run, e.g. a CJK
    word or an emoji, or a digit-comma re-encoding such as "10" cut from "▁10") is <unk> (1)."""
    def split(t):  # -> [(is_special, chunk)]
        chunks, pos = [], 0
        while True:
            hits = [(t.find(s, pos), -len(s), s) for s in ALBERT_SPECIALS if t.find(s, pos) >= 0]
            if not hits:
                return chunks + [(False, t[pos:])]
            at, _, tok = min(hits)
            chunks += [(False, t[pos:at]), (True, tok)]
            pos = at + len(tok)

    text = "".join(t if special else "".join(c.lower() for c in t) for special, t in split(text))
    chunks = split(text)
    for i, (special, tok) in enumerate(chunks):
        if special and tok in ALBERT_LSTRIP and i > 0 and not chunks[i - 1][0]:
            chunks[i - 1] = (False, chunks[i - 1][1].rstrip())
    out = []
    for special, tok in chunks:
        if not tok:
            continue
        for piece in ([tok] if special else albert_pieces(sp, tok)):
            out.append((piece, sp.piece_to_id(piece)))
    return out


def albert_encode(sp, text, pair=None):
    """[CLS] a [SEP] (b [SEP]) as AlbertTokenizer builds them -> (tokens, ids, type_ids); type ids
    0 for [CLS] a [SEP], 1 for b [SEP]."""
    cls, sep = ("[CLS]", sp.piece_to_id("[CLS]")), ("[SEP]", sp.piece_to_id("[SEP]"))
    toks, types = bert_template(cls, sep, albert_tokenize(sp, text),
                                None if pair is None else albert_tokenize(sp, pair))
    return [t[0] for t in toks], [t[1] for t in toks], types


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
                                    "ASCII only), or its spm.model (DeBERTa-v2/v3) / spiece.model (ALBERT) / "
                                    "vocab.json + merges.txt (DeBERTa v1, ASCII only) / "
                                    "tokenizer.json (ModernBERT, ASCII only)")
    ap.add_argument("--pair", help="second text of a pair (with --text)")
    ap.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    args = ap.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        config = json.load(f)
    weights, _, _ = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    if args.text is not None and config.get("model_type") == "modernbert":
        vocab, ranks = load_bpe_tokenizer_json(args.model_dir)
        tokens, ids, types = modernbert_encode(vocab, ranks, args.text, args.pair)
    elif args.text is not None and config.get("model_type") == "deberta":
        vocab, ranks = load_bpe(args.model_dir)
        tokens, ids, types = deberta_v1_encode(vocab, ranks, args.text, args.pair)
    elif args.text is not None and config.get("model_type") == "deberta-v2":
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(args.model_dir, "spm.model"))
        tokens, ids, types, _ = deberta_encode(sp, args.text, args.pair)
    elif args.text is not None and config.get("model_type") == "albert":
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(args.model_dir, "spiece.model"))
        tokens, ids, types = albert_encode(sp, args.text, args.pair)
    elif args.text is not None:
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
