#!/usr/bin/python3
"""Peers (ONNX Runtime fp32, PyTorch eager fp32) on a nomic-embed-text-v1.5-shaped NomicBERT model
that sparq also runs (bench/make_bench_model.py nomic), on the same files, with the peers harness'
inputs and runner (../shared/tools/peers: make_inputs.py, run_ort.js). The NomicBERT counterpart
of bench/peers_modernbert.py and bench/peers_deberta.py, with the same options, driver and output
(bench/peers_common.py).

For each model directory (NomicBertModel, model_type "nomic_bert": config.json +
model.safetensors, nomic-ai's remote code modeling_hf_nomic_bert.py) it builds a float32 torch
nn.Module of the encoder (eval semantics, as tools/bert_reference.py's _forward_nomic):
  * embeddings: emb_ln(word + token types) (no position table; the type table only if
    type_vocab_size > 0);
  * post-norm blocks: qkv = attn.Wqkv(x) split "(three h d)", rotary on q and k (rotate-half, not
    interleaved, over the first head_dim * rotary_emb_fraction channels, base rotary_emb_base,
    float32 cos / sin tables as buffers, positions 0..S-1), scores q k^T / sqrt(head_dim) plus
    finfo(float32).min on padded keys, softmax, probs v, x = norm1(x + attn.out_proj(ctx));
    x = norm2(x + mlp.fc2(fc11(x) * act(fc12(x)))) with act SiLU (swiglu) or erf GELU (geglu),
    the MLP width n_inner rounded up to a multiple of 256 as the remote code builds it;
  * linear biases only where qkv_proj_bias / mlp_fc1_bias / mlp_fc2_bias say;
returning last_hidden_state (no final norm, no pooler). The driver checks the module against the
float64 reference, exports it to ONNX, checks ORT against it and times ORT fp32, torch fp32 eager
and, with --sparq, `sparq bench` in one loop (--help: the method, the environment, the options):

    /usr/bin/python3 bench/peers_nomic.py --models /tmp/nb/base /tmp/nb/p90 \\
        --work /tmp/nb/peers --out /tmp/nb/peers.jsonl \\
        [--sparq build/sparq --sparq-only /tmp/nb/q /tmp/nb/p90q]

The rotary tables cover n_positions (8192 for nomic-embed-text-v1.5); the settings the reference
refuses (prenorm, interleaved rotary, rotary_scaling_factor, ...) are refused here too. The tiny
test fixtures (n_positions 128) need a check shape within it, e.g.
    bench/peers_nomic.py --models tests/fixtures/tiny_nomic tests/fixtures/tiny_nomic_geglu \\
        --work /tmp/nb/tiny --check-shape 3x100 --no-timing
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

def gated_width(config, hidden):
    """NomciBertGatedMLP's hidden features: n_inner (default 4 * n_embd) rounded up to a multiple
    of 256."""
    n = int(config.get("n_inner") or 4 * hidden)
    return (n + 255) // 256 * 256


class Block(nn.Module):
    """NomicBertBlock (prenorm false): NomicBertAttention with rotary, norm1, the gated MLP, norm2."""

    def __init__(self, st, inner):
        super().__init__()
        h = st["hidden"]
        self.heads, self.hd, self.rot = st["heads"], st["head_dim"], st["rotary_dim"]
        self.norm_factor = float(torch.sqrt(torch.tensor(float(self.hd), dtype=torch.float32)))
        self.Wqkv = nn.Linear(h, 3 * h, bias=st["qkv_proj_bias"])
        self.out_proj = nn.Linear(h, h, bias=st["qkv_proj_bias"])
        self.norm1 = nn.LayerNorm(h, st["eps"])
        self.fc11 = nn.Linear(h, inner, bias=st["mlp_fc1_bias"])
        self.fc12 = nn.Linear(h, inner, bias=st["mlp_fc1_bias"])
        self.fc2 = nn.Linear(inner, h, bias=st["mlp_fc2_bias"])
        self.norm2 = nn.LayerNorm(h, st["eps"])
        self.act = F.silu if st["activation"] == "swiglu" else F.gelu

    def rotary(self, x, cos, sin):
        """x [B, heads, S, d]; cos / sin [S, rot] (the half tables repeated); the channels past rot
        (partial rotary) pass through."""
        if self.rot < self.hd:
            return torch.cat([self.rotate(x[..., :self.rot], cos, sin), x[..., self.rot:]], dim=-1)
        return self.rotate(x, cos, sin)

    @staticmethod
    def rotate(x, cos, sin):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    def forward(self, x, key_mask, cos, sin):
        b, s, hidden = x.shape
        qkv = self.Wqkv(x).view(b, s, 3, self.heads, self.hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, S, d]
        q, k = self.rotary(q, cos, sin), self.rotary(k, cos, sin)
        scores = torch.matmul(q, k.transpose(-1, -2)) / self.norm_factor + key_mask
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, heads, S, d]
        x = self.norm1(self.out_proj(ctx.transpose(1, 2).reshape(b, s, hidden)) + x)
        return self.norm2(self.fc2(self.fc11(x) * self.act(self.fc12(x))) + x)


class NomicBertEncoder(nn.Module):
    """NomicBertModel (eval, no pooler) -> last_hidden_state [B, S, H] in float32."""

    def __init__(self, config):
        super().__init__()
        st = ref.nomic_settings(config)
        h = st["hidden"]
        self.word_embeddings = nn.Embedding(int(config["vocab_size"]), h)
        self.token_type_embeddings = None
        if st["type_vocab_size"] > 0:
            self.token_type_embeddings = nn.Embedding(st["type_vocab_size"], h)
        self.emb_ln = nn.LayerNorm(h, st["eps"])
        inner = gated_width(config, h)
        self.layers = nn.ModuleList(Block(st, inner) for _ in range(st["layers"]))
        self.max_seq = int(config.get("n_positions", 2048))
        cos, sin = ref.nomic_rotary(self.max_seq, st["rotary_dim"], st["rotary_base"], torch.float32)
        self.register_buffer("cos", torch.cat([cos, cos], dim=-1), persistent=False)
        self.register_buffer("sin", torch.cat([sin, sin], dim=-1), persistent=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        s = input_ids.shape[1]
        if not torch.onnx.is_in_onnx_export() and s > self.max_seq:
            raise ValueError(f"sequence {s} longer than the rotary tables (n_positions {self.max_seq})")
        x = self.word_embeddings(input_ids)
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        else:  # no token types: 0 * token_type_ids keeps the ONNX graph input (int64, [B, S])
            x = x + (token_type_ids * 0)[..., None].to(x.dtype)
        x = self.emb_ln(x)
        key_mask = common.key_mask(attention_mask, x.dtype)  # [B, 1, 1, S] padded keys
        cos, sin = self.cos[:s], self.sin[:s]
        for layer in self.layers:
            x = layer(x, key_mask, cos, sin)
        return x


def load_model(model_dir, variant="fp32"):
    config, weights = common.read_model(model_dir, "nomic_bert")
    if variant != "fp32":
        raise ValueError(f"torch variant {variant!r}")
    names = {"word_embeddings": "embeddings.word_embeddings",
             "token_type_embeddings": "embeddings.token_type_embeddings", "layers": "encoder.layers",
             "Wqkv": "attn.Wqkv", "out_proj": "attn.out_proj", "fc11": "mlp.fc11", "fc12": "mlp.fc12",
             "fc2": "mlp.fc2"}
    m = common.load_state(NomicBertEncoder(config), weights, common.rename_parts(names), "", model_dir)
    return m, config, weights


if __name__ == "__main__":
    common.main(__doc__, __file__, load_model, work="/tmp/nb/peers", check_shape="2x300",
                check_help="padded numerics batch (within n_positions)")
