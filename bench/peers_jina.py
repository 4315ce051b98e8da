#!/usr/bin/python3
"""Peers (ONNX Runtime fp32, PyTorch eager fp32) on a jina-embeddings-v2-base-en-shaped JinaBERT
model that sparq also runs (bench/make_bench_model.py jina), on the same files, with the peers
harness' inputs and runner (../shared/tools/peers: make_inputs.py, run_ort.js). The JinaBERT
counterpart of bench/peers_nomic.py, with the same options, driver and output
(bench/peers_common.py).

For each model directory (JinaBertModel: model_type "bert" with position_embedding_type "alibi"
and feed_forward_type "geglu"; config.json + model.safetensors) it builds a float32 torch
nn.Module of the encoder (eval semantics, as tools/bert_reference.py's _forward_jina):
  * embeddings: LayerNorm(word + token types) (no position table);
  * post-norm layers: q, k, v = query / key / value (with biases), scores q k^T / sqrt(head_dim)
    plus finfo(float32).min on padded keys plus ALiBi -slope_h * |i - j| (the slopes of
    bert_reference.jina_alibi_slopes as float32, the distances built from the sequence length in
    the graph), softmax, probs v, x = attention.output.LayerNorm(x + attention.output.dense(ctx));
    u = mlp.gated_layers(x) (no bias), x = mlp.layernorm(x + mlp.wo(gelu(u[:inter]) * u[inter:]))
    with the erf GELU;
returning last_hidden_state (no pooler). The driver checks the module against the float64
reference, exports it to ONNX, checks ORT against it and times ORT fp32, torch fp32 eager and,
with --sparq, `sparq bench` in one loop (--help: the method, the environment, the options):

    /usr/bin/python3 bench/peers_jina.py --models /tmp/jn/base /tmp/jn/p90 \\
        --work /tmp/jn/peers --out /tmp/jn/peers.jsonl \\
        [--sparq build/sparq --sparq-only /tmp/jn/q /tmp/jn/p90q]

The tiny test fixtures (max_position_embeddings 128) need a check shape within it, e.g.
    bench/peers_jina.py --models tests/fixtures/tiny_jina --work /tmp/jn/tiny --check-shape 3x100 \\
        --no-timing
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_common as common  # noqa: E402  (sets OPENBLAS_CORETYPE before torch loads)
from peers_common import ref  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


# ------------------------------------------------------------------------------------------------
# the model

class Layer(nn.Module):
    """JinaBertLayer: self-attention with the ALiBi bias, its LayerNorm, the GEGLU MLP and its."""

    def __init__(self, st):
        super().__init__()
        h = st["hidden"]
        self.heads, self.hd, self.inter = st["heads"], st["head_dim"], st["intermediate"]
        self.scale = 1.0 / float(self.hd) ** 0.5
        self.query, self.key, self.value = (nn.Linear(h, h) for _ in range(3))
        self.dense = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h, st["eps"])
        self.gated_layers = nn.Linear(h, 2 * self.inter, bias=False)
        self.wo = nn.Linear(self.inter, h)
        self.ln2 = nn.LayerNorm(h, st["eps"])

    def forward(self, x, bias):
        b, s, hidden = x.shape

        def split(t):  # [B, S, H] -> [B, heads, S, d]
            return t.view(b, s, self.heads, self.hd).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, s, hidden)
        x = self.ln1(self.dense(ctx) + x)
        u = self.gated_layers(x)
        return self.ln2(self.wo(F.gelu(u[..., :self.inter]) * u[..., self.inter:]) + x)


class JinaBertEncoder(nn.Module):
    """JinaBertModel (eval, no pooler) -> last_hidden_state [B, S, H] in float32."""

    def __init__(self, config):
        super().__init__()
        st = ref.jina_settings(config)
        if st["qk_post_norm"]:
            raise ValueError("the qk-post-norm JinaBERT (jina-embeddings-v2-base-code) is not built here")
        h = st["hidden"]
        self.word_embeddings = nn.Embedding(int(config["vocab_size"]), h)
        self.token_type_embeddings = nn.Embedding(int(config.get("type_vocab_size", 2)), h)
        self.emb_ln = nn.LayerNorm(h, st["eps"])
        self.layers = nn.ModuleList(Layer(st) for _ in range(st["layers"]))
        slopes = torch.tensor(ref.jina_alibi_slopes(st["heads"]), dtype=torch.float32)
        self.register_buffer("neg_slopes", -slopes[:, None, None], persistent=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.emb_ln(self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids))
        pos = torch.cumsum(torch.ones_like(input_ids[0]), 0).to(x.dtype)  # 1..S, S from the graph
        alibi = self.neg_slopes * (pos[None, :] - pos[:, None]).abs()[None]  # [heads, S, S]
        key_mask = common.key_mask(attention_mask, x.dtype)  # [B, 1, 1, S] padded keys
        bias = key_mask + alibi[None]
        for layer in self.layers:
            x = layer(x, bias)
        return x


def load_model(model_dir, variant="fp32"):
    config, weights = common.read_model(model_dir, "bert")
    if variant != "fp32":
        raise ValueError(f"torch variant {variant!r}")
    names = {"word_embeddings": "embeddings.word_embeddings",
             "token_type_embeddings": "embeddings.token_type_embeddings",
             "emb_ln": "embeddings.LayerNorm", "layers": "encoder.layer",
             "query": "attention.self.query", "key": "attention.self.key",
             "value": "attention.self.value", "dense": "attention.output.dense",
             "ln1": "attention.output.LayerNorm", "gated_layers": "mlp.gated_layers", "wo": "mlp.wo",
             "ln2": "mlp.layernorm"}
    m = common.load_state(JinaBertEncoder(config), weights, common.rename_parts(names), "bert.",
                          model_dir)
    return m, config, weights


if __name__ == "__main__":
    common.main(__doc__, __file__, load_model, work="/tmp/jn/peers", check_shape="2x300",
                check_help="padded numerics batch")
