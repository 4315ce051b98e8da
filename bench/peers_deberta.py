#!/usr/bin/python3
"""Peers (ONNX Runtime fp32, PyTorch eager fp32) on a DeBERTa-v3-base-shaped model that sparq also
runs (bench/make_bench_model.py deberta), on the same files, with the peers harness' inputs and
runner (../shared/tools/peers: make_inputs.py, run_ort.js). The DeBERTa-v2 / v3 counterpart of
bench/peers_modernbert.py, with the same options, driver and output (bench/peers_common.py).

For each model directory (Hugging Face DebertaV2Model / DebertaV2For*: config.json +
model.safetensors, model_type "deberta-v2") it builds a float32 torch nn.Module of the DeBERTa-v2
encoder (Hugging Face eager semantics, as tools/bert_reference.py's _forward_deberta_v2):
  * embeddings: word (+ absolute positions 0..S-1 if position_biased_input) (+ token types if
    type_vocab_size > 0) (embed_proj if embedding_size != hidden_size), LayerNorm, times the
    attention mask;
  * the relative embeddings (LayerNorm'ed by encoder.LayerNorm when norm_rel_ebd has
    "layer_norm") cut to 2 span rows and projected per layer by key_proj / query_proj
    (share_att_key) or pos_key_proj / pos_query_proj;
  * relative positions i - j, log-bucketed (make_log_bucket_position) when position_buckets > 0,
    max_relative_positions < 1 meaning max_position_embeddings;
  * c2p[i][j] = q_i . pos_k[c(i, j)] and p2c[i][j] = k_j . pos_q[c(i, j)] gathered with
    c(i, j) = clamp(bucket(i - j) + span, 0, 2 span - 1) (torch.gather over the expanded index,
    p2c gathered [key][query] and transposed, as Hugging Face); scores
    (q k^T + c2p + p2c) / sqrt(head_dim * (1 + #terms));
  * XSoftmax: only pairs of real tokens attend (masked scores finfo(float32).min, their
    probabilities 0); then the BERT output / FFN blocks with GELU(erf);
returning last_hidden_state. A model without token types keeps token_type_ids as an input of the
ONNX graph (run_ort.js feeds all three) through a `0 * token_type_ids` term. The driver checks
the module against the float64 reference, exports it to ONNX, checks ORT against it and times ORT
fp32, torch fp32 eager and, with --sparq, `sparq bench` in one loop (--help: the method, the
environment, the options):

    /usr/bin/python3 bench/peers_deberta.py --models /tmp/dp/base /tmp/dp/p90 \\
        --work /tmp/dp/peers --out /tmp/dp/peers.jsonl \\
        [--sparq build/sparq --sparq-only /tmp/dp/q /tmp/dp/p90q]

The relative index table (bucket and clamp of every distance i - j, |i - j| < MAX_SEQ = 2048) is
a buffer computed once with the reference's own bucket function; the forward indexes it with the
sequence's positions, so the ONNX graph keeps dynamic batch and sequence. The projections of the
relative embeddings depend on the weights only: torch variant "fp32" computes them in every
forward as Hugging Face does (every layer two [2 span, H] x [H, H] products: 1.2 GFLOP for the
v3-base shape, two thirds of a b1 s128 forward's 1.8 GFLOP of linear layers per layer),
"fp32-relcache" once at load (what ORT's constant folding does to the exported graph, and what
sparq does at load); --torch-variants fp32,fp32-relcache times both.

The tiny test fixtures: models with absolute positions need a check shape within
max_position_embeddings, e.g.
    bench/peers_deberta.py --models tests/fixtures/tiny_deberta tests/fixtures/tiny_deberta_cls \\
        --work /tmp/dp/tiny --check-shape 3x60 --no-timing
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_common as common  # noqa: E402  (sets OPENBLAS_CORETYPE before torch loads)
from peers_common import NEG, ref  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

MAX_SEQ = 2048  # default length of the relative index table (beyond max_position_embeddings)


# ------------------------------------------------------------------------------------------------
# the model

def relative_index_table(config, max_seq):
    """[2 max_seq - 1] int64: entry r + max_seq - 1 = clamp(bucket(r) + span, 0, 2 span - 1) for
    the distance r = i - j (query i, key j), bucket as the reference's deberta_relative_positions
    (deberta_log_bucket when position_buckets > 0 and max_relative_positions > 0, else r).
    Both gathers use it: c2p at [i][j]; p2c's Hugging Face index clamp(-bucket(j - i) + span) at
    [j][i] is the same number (the bucket is odd)."""
    st = ref.deberta_settings(config)
    rel = torch.arange(-(max_seq - 1), max_seq, dtype=torch.long)
    if st["position_buckets"] > 0 and st["max_relative_positions"] > 0:
        rel = ref.deberta_log_bucket(rel, st["position_buckets"], st["max_relative_positions"])
    return torch.clamp(rel + st["att_span"], 0, 2 * st["att_span"] - 1)


class Layer(nn.Module):
    """DebertaV2Layer: DisentangledSelfAttention, output dense + LayerNorm, FFN + LayerNorm."""

    def __init__(self, c):
        super().__init__()
        h, inner = c["hidden"], c["heads"] * c["hd"]
        self.heads, self.hd, self.scale = c["heads"], c["hd"], c["scale"]
        self.c2p, self.p2c, self.relative = c["c2p"], c["p2c"], c["relative"]
        self.query_proj, self.key_proj, self.value_proj = (nn.Linear(h, inner) for _ in range(3))
        self.pos_key_proj = self.pos_query_proj = None
        if self.relative and not c["share_att_key"]:
            if self.c2p:
                self.pos_key_proj = nn.Linear(h, inner)
            if self.p2c:
                self.pos_query_proj = nn.Linear(h, inner)
        self.dense = nn.Linear(inner, h)
        self.attn_norm = nn.LayerNorm(h, c["eps"])
        self.intermediate = nn.Linear(h, c["intermediate"])
        self.output = nn.Linear(c["intermediate"], h)
        self.out_norm = nn.LayerNorm(h, c["eps"])

    def relative_projections(self, rel_emb):
        """(pos_q, pos_k), each [heads, 2 span, hd] or None: the query / key projections of the
        relative embeddings [2 span, H] (key_proj / query_proj when share_att_key)."""
        def heads(proj):
            return proj(rel_emb).view(-1, self.heads, self.hd).transpose(0, 1)
        own_q, own_k = self.pos_query_proj is not None, self.pos_key_proj is not None
        pos_q = heads(self.pos_query_proj if own_q else self.query_proj) if self.p2c else None
        pos_k = heads(self.pos_key_proj if own_k else self.key_proj) if self.c2p else None
        return pos_q, pos_k

    def forward(self, x, pair_mask, rel_idx, rel):
        b, s, hidden = x.shape

        def split(t):  # [B, S, heads * hd] -> [B, heads, S, hd]
            return t.view(b, s, self.heads, self.hd).transpose(1, 2)

        q, k, v = split(self.query_proj(x)), split(self.key_proj(x)), split(self.value_proj(x))
        scores = torch.matmul(q, k.transpose(-1, -2))
        if self.relative:
            pos_q, pos_k = rel
            if pos_k is not None:  # c2p[i][j] = q_i . pos_k[idx[i][j]]
                c2p = torch.matmul(q, pos_k.transpose(-1, -2))  # [B, heads, S (query), 2 span]
                scores = scores + torch.gather(c2p, -1, rel_idx.expand(b, self.heads, s, s))
            if pos_q is not None:  # p2c[i][j] = k_j . pos_q[idx[i][j]], gathered [j][i]
                p2c = torch.matmul(k, pos_q.transpose(-1, -2))  # [B, heads, S (key), 2 span]
                p2c = torch.gather(p2c, -1, rel_idx.t().expand(b, self.heads, s, s))
                scores = scores + p2c.transpose(-1, -2)
        scores = (scores / self.scale).masked_fill(~pair_mask, NEG)  # XSoftmax
        probs = torch.softmax(scores, dim=-1).masked_fill(~pair_mask, 0.0)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, self.heads * self.hd)
        x = self.attn_norm(self.dense(ctx) + x)
        return self.out_norm(self.output(F.gelu(self.intermediate(x))) + x)


class DebertaV2Encoder(nn.Module):
    """DebertaV2Model (eval, eager attention) -> last_hidden_state [B, S, H] in float32."""

    def __init__(self, config, max_seq=MAX_SEQ):
        super().__init__()
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError("only hidden_act 'gelu' is implemented")
        if int(config.get("conv_kernel_size", 0)) > 0:
            raise NotImplementedError("DeBERTa-v2 ConvLayer (conv_kernel_size > 0) is not implemented")
        st = ref.deberta_settings(config)
        h, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        hd = int(config.get("attention_head_size", h // heads))
        eps = float(config.get("layer_norm_eps", 1e-7))
        terms = ("c2p" in st["pos_att_type"]) + ("p2c" in st["pos_att_type"])
        c = dict(hidden=h, heads=heads, hd=hd, eps=eps, intermediate=int(config["intermediate_size"]),
                 relative=st["relative_attention"], share_att_key=st["share_att_key"],
                 c2p="c2p" in st["pos_att_type"], p2c="p2c" in st["pos_att_type"],
                 scale=float(torch.sqrt(torch.tensor(hd, dtype=torch.float) * (1 + terms))))
        emb = int(config.get("embedding_size", h))
        self.word_embeddings = nn.Embedding(int(config["vocab_size"]), emb)
        self.position_embeddings = self.token_type_embeddings = self.embed_proj = None
        if st["position_biased_input"]:
            self.position_embeddings = nn.Embedding(int(config["max_position_embeddings"]), emb)
        if st["type_vocab_size"] > 0:
            self.token_type_embeddings = nn.Embedding(st["type_vocab_size"], emb)
        if emb != h:
            self.embed_proj = nn.Linear(emb, h, bias=False)
        self.emb_norm = nn.LayerNorm(h, eps)
        self.layers = nn.ModuleList(Layer(c) for _ in range(int(config["num_hidden_layers"])))
        self.span, self.max_seq, self.rel_norm = st["att_span"], max_seq, None
        if st["relative_attention"]:
            self.rel_embeddings = nn.Parameter(torch.zeros(2 * self.span, h))
            if "layer_norm" in st["norm_rel_ebd"]:
                self.rel_norm = nn.LayerNorm(h, eps)
            self.register_buffer("rel_table", relative_index_table(config, max_seq), persistent=False)
        self.cached = None  # cache_relative(): the layers' (pos_q, pos_k)

    def relative(self):
        """Each layer's (pos_q, pos_k) from the (LayerNorm'ed) relative embeddings."""
        if self.cached is not None:
            return self.cached
        if not self.layers[0].relative:
            return [None] * len(self.layers)
        rel_emb = self.rel_embeddings if self.rel_norm is None else self.rel_norm(self.rel_embeddings)
        return [layer.relative_projections(rel_emb) for layer in self.layers]

    def cache_relative(self):
        """Computes the relative projections once (variant fp32-relcache)."""
        with torch.no_grad():
            self.cached = self.relative()
        return self

    def forward(self, input_ids, attention_mask, token_type_ids):
        s = input_ids.shape[1]
        if not torch.onnx.is_in_onnx_export() and s > self.max_seq:
            raise ValueError(f"sequence {s} longer than the relative index table ({self.max_seq})")
        if self.token_type_embeddings is None:
            # no token types: 0 * token_type_ids keeps the ONNX graph input (int64, [B, S])
            input_ids = input_ids + token_type_ids * 0
        x = self.word_embeddings(input_ids)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings.weight[:s][None]
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        if self.embed_proj is not None:
            x = self.embed_proj(x)
        x = self.emb_norm(x) * attention_mask[:, :, None].to(x.dtype)
        real = attention_mask != 0
        pair_mask = real[:, None, :, None] & real[:, None, None, :]  # [B, 1, S, S]
        rel_idx = None
        if self.layers[0].relative:
            pos = torch.arange(s, device=input_ids.device)
            rel_idx = self.rel_table[pos[:, None] - pos[None, :] + (self.max_seq - 1)]  # [S, S]
        for layer, rel in zip(self.layers, self.relative()):
            x = layer(x, pair_mask, rel_idx, rel)
        return x


def load_model(model_dir, variant="fp32"):
    config, weights = common.read_model(model_dir, "deberta-v2")
    m = DebertaV2Encoder(config)
    names = {"word_embeddings": "embeddings.word_embeddings", "position_embeddings": "embeddings.position_embeddings",
             "token_type_embeddings": "embeddings.token_type_embeddings", "embed_proj": "embeddings.embed_proj",
             "emb_norm": "embeddings.LayerNorm", "rel_norm": "encoder.LayerNorm", "layers": "encoder.layer",
             "dense": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
             "intermediate": "intermediate.dense", "output": "output.dense", "out_norm": "output.LayerNorm"}
    for proj in ("query_proj", "key_proj", "value_proj", "pos_key_proj", "pos_query_proj"):
        names[proj] = "attention.self." + proj

    renamed = common.rename_parts(names)

    def hf_name(ours):
        return "encoder.rel_embeddings.weight" if ours == "rel_embeddings" else renamed(ours)

    span = m.span
    if m.layers[0].relative:  # the stored table may be longer than 2 span rows; the reference cuts it
        key = next(k for k in ("deberta.encoder.rel_embeddings.weight", "encoder.rel_embeddings.weight")
                   if k in weights)
        weights = dict(weights, **{key: weights[key][:2 * span]})
    m = common.load_state(m, weights, hf_name, "deberta.", model_dir)
    if variant == "fp32-relcache":
        m.cache_relative()
    elif variant != "fp32":
        raise ValueError(f"torch variant {variant!r}")
    return m, config, weights


if __name__ == "__main__":
    common.main(__doc__, __file__, load_model, work="/tmp/dp/peers", check_shape="2x300",
                check_help="padded numerics batch (seq > position_buckets / 2, so that the log buckets are "
                           "reached; within max_position_embeddings for models with absolute positions)",
                variants=("fp32", "fp32-relcache"),
                variants_help="fp32: the relative projections in every forward (Hugging Face); "
                              "fp32-relcache: once at load.")
