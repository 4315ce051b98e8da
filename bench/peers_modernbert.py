#!/usr/bin/python3
"""Peers (ONNX Runtime fp32, PyTorch eager fp32) on a ModernBERT-base-shaped model that sparq also
runs (bench/make_bench_model.py modernbert), on the same files, with the peers harness' inputs and runner
(../shared/tools/peers: make_inputs.py, run_ort.js).

For each model directory (Hugging Face ModernBertForSequenceClassification: config.json +
model.safetensors) it builds a float32 torch nn.Module of the ModernBERT encoder (Hugging Face
eager semantics, as tools/bert_reference.py's _forward_modernbert: pre-norm, rotary rotate-half
with float32 cos/sin tables as buffers, local layers see keys with |i - j| <= local_attention // 2,
every global_attn_every_n_layers-th layer global, gated GELU MLP, final norm; padding as an
additive finfo(float32).min) returning last_hidden_state. ModernBERT has no token types:
token_type_ids stays an input of the ONNX graph (run_ort.js feeds all three) through a
`0 * token_type_ids` term. The driver (bench/peers_common.py) checks the module against the
float64 reference, exports it to ONNX, checks ORT against it and times ORT fp32, torch fp32 eager
and, with --sparq, `sparq bench` in one loop (--help: the method, the environment, the options):

    /usr/bin/python3 bench/peers_modernbert.py --models /tmp/mb/base /tmp/mb/p90 \\
        --work /tmp/mb/peers --out /tmp/mb/peers.jsonl \\
        [--sparq build/sparq --sparq-only /tmp/mb/q /tmp/mb/p90q]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_common as common  # noqa: E402  (sets OPENBLAS_CORETYPE before torch loads)
from peers_common import NEG, ref  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


# ------------------------------------------------------------------------------------------------
# the model

class Norm(nn.Module):
    """nn.LayerNorm(hidden, eps, bias=norm_bias) (torch 1.13's LayerNorm has no bias=False).
    Without norm_bias the bias is a zero buffer: the same values, and the opset-14 export
    (decomposed LayerNorm) then ends in the Add that ORT's LayerNormFusion matches (without it ORT
    only reached ReduceMean + Sub + SimplifiedLayerNormalization)."""

    def __init__(self, hidden, eps, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        if bias:
            self.bias = nn.Parameter(torch.zeros(hidden))
        else:
            self.register_buffer("bias", torch.zeros(hidden), persistent=False)
        self.eps, self.shape = eps, (hidden,)

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


class Layer(nn.Module):
    def __init__(self, c, i):
        super().__init__()
        h, inter = c["hidden"], c["intermediate"]
        self.heads, self.hd = c["heads"], h // c["heads"]
        self.is_global = ref.modernbert_layer_is_global(i, c["config"])
        self.attn_norm = Norm(h, c["eps"], c["norm_bias"]) if i > 0 else nn.Identity()
        self.Wqkv = nn.Linear(h, 3 * h, bias=c["attention_bias"])
        self.Wo = nn.Linear(h, h, bias=c["attention_bias"])
        self.mlp_norm = Norm(h, c["eps"], c["norm_bias"])
        self.Wi = nn.Linear(h, 2 * inter, bias=c["mlp_bias"])
        self.Wo_mlp = nn.Linear(inter, h, bias=c["mlp_bias"])
        self.act = c["act"]

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def forward(self, x, global_mask, local_mask, ropes):
        b, s, hidden = x.shape
        cos, sin = ropes[0] if self.is_global else ropes[1]
        qkv = self.Wqkv(self.attn_norm(x)).view(b, s, 3, self.heads, self.hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, S, d]
        q = q * cos + self.rotate_half(q) * sin
        k = k * cos + self.rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(-1, -2)) * (self.hd ** -0.5)
        scores = scores + (global_mask if self.is_global else local_mask)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, heads, S, d]
        x = x + self.Wo(ctx.transpose(1, 2).reshape(b, s, hidden))
        inp, gate = self.Wi(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.Wo_mlp(self.act(inp) * gate)


class ModernBertEncoder(nn.Module):
    """ModernBertModel (eval, eager attention) -> last_hidden_state [B, S, H] in float32."""

    def __init__(self, config, max_positions=8192):
        super().__init__()
        st = ref.modernbert_settings(config)
        acts = {"gelu": F.gelu, "gelu_pytorch_tanh": lambda t: F.gelu(t, approximate="tanh"),
                "gelu_new": lambda t: F.gelu(t, approximate="tanh")}
        c = dict(st, config=config, norm_bias=bool(config.get("norm_bias", False)),
                 attention_bias=bool(config.get("attention_bias", False)),
                 mlp_bias=bool(config.get("mlp_bias", False)), act=acts[st["hidden_activation"]])
        h = st["hidden"]
        self.half_window = st["local_attention"] // 2
        self.tok_embeddings = nn.Embedding(int(config["vocab_size"]), h)
        self.emb_norm = Norm(h, st["eps"], c["norm_bias"])
        self.layers = nn.ModuleList(Layer(c, i) for i in range(st["layers"]))
        self.final_norm = Norm(h, st["eps"], c["norm_bias"])
        n = min(int(config.get("max_position_embeddings", max_positions)), max_positions)
        for name, theta in (("global", st["global_rope_theta"]), ("local", st["local_rope_theta"])):
            cos, sin = ref.modernbert_rope(n, h // st["heads"], theta, torch.float32, True)
            self.register_buffer(name + "_cos", cos, persistent=False)
            self.register_buffer(name + "_sin", sin, persistent=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        # ModernBERT has no token types; 0 * token_type_ids keeps the ONNX graph input (int64, [B, S])
        input_ids = input_ids + token_type_ids * 0
        s = input_ids.shape[1]
        x = self.emb_norm(self.tok_embeddings(input_ids))
        pad = (attention_mask == 0)[:, None, None, :]  # [B, 1, 1, S] padded keys
        zero = torch.zeros((), dtype=x.dtype)
        neg = torch.full((), NEG, dtype=x.dtype)
        global_mask = torch.where(pad, neg, zero)  # broadcast over queries
        pos = torch.arange(s, device=input_ids.device)
        far = (pos[None, :] - pos[:, None]).abs() > self.half_window  # [S, S]
        local_mask = torch.where(pad | far[None, None], neg, zero)  # [B, 1, S, S]
        ropes = ((self.global_cos[:s], self.global_sin[:s]), (self.local_cos[:s], self.local_sin[:s]))
        for layer in self.layers:
            x = layer(x, global_mask, local_mask, ropes)
        return self.final_norm(x)


def load_model(model_dir, variant="fp32"):
    config, weights = common.read_model(model_dir)
    m = ModernBertEncoder(config)
    names = {"tok_embeddings.weight": "embeddings.tok_embeddings.weight",
             "emb_norm.weight": "embeddings.norm.weight", "emb_norm.bias": "embeddings.norm.bias",
             "final_norm.weight": "final_norm.weight", "final_norm.bias": "final_norm.bias"}
    for i in range(len(m.layers)):
        for ours, hf in (("attn_norm", "attn_norm"), ("Wqkv", "attn.Wqkv"), ("Wo", "attn.Wo"),
                         ("mlp_norm", "mlp_norm"), ("Wi", "mlp.Wi"), ("Wo_mlp", "mlp.Wo")):
            for t in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{t}"] = f"layers.{i}.{hf}.{t}"
    return common.load_state(m, weights, names.__getitem__, "model.", model_dir), config, weights


if __name__ == "__main__":
    common.main(__doc__, __file__, load_model, work="/tmp/mb/peers", check_shape="2x160",
                check_help="padded numerics batch (seq > local window)")
