"""A trainable BERT (PyTorch nn.Module) with Hugging Face semantics and parameter names.

Same math as tools/bert_reference.py's `forward` (post-LN encoder, exact-erf GELU, additive
attention mask (1 - mask) * finfo(float32).min, tanh pooler), but as modules whose state_dict
keys are exactly HF's: "bert.embeddings.word_embeddings.weight", ...,
"bert.encoder.layer.{i}.attention.self.query.weight", ..., "bert.pooler.dense.weight",
"classifier.weight". Model directories are written with bert_reference.write_safetensors, so a
saved model can be checked against the independent reference forward.
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bert_reference  # noqa: E402

LABELS = ["negative", "positive"]


def make_config(vocab_size, hidden=256, layers=4, heads=4, intermediate=1024, max_len=64,
                dropout=0.1):
    """An HF BertConfig dict for BertForSequenceClassification with the SST-2 labels."""
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "max_position_embeddings": max_len,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "problem_type": "single_label_classification",
        "torch_dtype": "float32",
    }


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=0)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types)
        x = x + self.position_embeddings(pos)[None]
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, ext):
        b, s, h = x.shape
        hd = h // self.heads

        def split(t):
            return t.view(b, s, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext
        probs = self.dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(probs, v).transpose(1, 2).reshape(b, s, h)


class DenseLN(nn.Module):
    """dense -> dropout -> LayerNorm(. + residual): HF's BertSelfOutput / BertOutput."""

    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseLN(c, c["hidden_size"])

    def forward(self, x, ext):
        return self.output(self.self(x, ext), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLN(c, c["intermediate_size"])

    def forward(self, x, ext):
        x = self.attention(x, ext)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext):
        for layer in self.layer:
            x = layer(x, ext)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, ids, mask, types=None):
        """Returns (last_hidden_state [B,S,H], pooler_output [B,H])."""
        if types is None:
            types = torch.zeros_like(ids)
        ext = (1.0 - mask.to(torch.float32))[:, None, None, :] * torch.finfo(torch.float32).min
        x = self.encoder(self.embeddings(ids, types), ext)
        return x, self.pooler(x)


def init_weights(module, std):
    """HF BertPreTrainedModel._init_weights."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.data.normal_(0.0, std)
            m.bias.data.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.data.normal_(0.0, std)
            if m.padding_idx is not None:
                m.weight.data[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        drop = c.get("classifier_dropout")
        self.dropout = nn.Dropout(c["hidden_dropout_prob"] if drop is None else drop)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))
        init_weights(self, c["initializer_range"])

    def forward(self, ids, mask, types=None):
        _, pooled = self.bert(ids, mask, types)
        return self.classifier(self.dropout(pooled))


class BertForMaskedLM(nn.Module):
    """HF BertForMaskedLM (cls.predictions.* head, decoder tied to the word embeddings); only
    the "bert." part is carried over to fine-tuning (the pooler stays at its initialization)."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        h = c["hidden_size"]
        self.transform_dense = nn.Linear(h, h)
        self.transform_ln = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.decoder_bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        init_weights(self, c["initializer_range"])

    def forward(self, ids, mask, positions):
        """MLM logits [N, vocab] at the flattened (batch*seq) indices `positions` only."""
        x, _ = self.bert(ids, mask)
        x = x.reshape(-1, x.shape[-1])[positions]
        x = self.transform_ln(F.gelu(self.transform_dense(x)))
        return F.linear(x, self.bert.embeddings.word_embeddings.weight, self.decoder_bias)


def prunable_names(config):
    """HF names of the encoder linear weights that gradual pruning targets (Q, K, V, attention
    output, FFN in, FFN out of every layer)."""
    out = []
    for i in range(config["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        out += [p + "attention.self.query.weight", p + "attention.self.key.weight",
                p + "attention.self.value.weight", p + "attention.output.dense.weight",
                p + "intermediate.dense.weight", p + "output.dense.weight"]
    return out


def state_to_numpy(model):
    return {k: v.detach().cpu().numpy().astype(np.float32)
            for k, v in model.state_dict().items()}


def save_model_dir(model, out_dir, vocab_path, metadata=None, extra=None):
    """Writes an HF model directory: config.json, model.safetensors (f32), vocab.txt,
    tokenizer_config.json (+ training_info.json from `extra`)."""
    os.makedirs(out_dir, exist_ok=True)
    c = dict(model.config)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    bert_reference.write_safetensors(os.path.join(out_dir, "model.safetensors"),
                                     state_to_numpy(model), metadata={"format": "pt", **(metadata or {})})
    shutil.copyfile(vocab_path, os.path.join(out_dir, "vocab.txt"))
    write_tokenizer_config(out_dir, c["max_position_embeddings"])
    if extra is not None:
        with open(os.path.join(out_dir, "training_info.json"), "w") as f:
            json.dump(extra, f, indent=2)
            f.write("\n")


def write_tokenizer_config(out_dir, max_len):
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": max_len,
                   "tokenizer_class": "BertTokenizer"}, f, indent=2)
        f.write("\n")


def load_model_dir(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    m = BertForSequenceClassification(c)
    w, _, _ = bert_reference.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in w.items()})
    return m
