#!/usr/bin/env python3
"""A ModernBERT-base-shaped model with random weights, for benchmarks (docs/benchmarks.md run 18).

22 layers, hidden 768, 12 heads, intermediate 1152 (gated: Wi [2304, 768]), every third layer
global and the others within +-64 tokens, vocabulary 50368, a 2-label sequence-classification
head; the tokenizer files of tests/fixtures/tiny_modernbert_cls (their ids are in range).

    /usr/bin/python3 bench/make_modernbert_model.py OUT_DIR
"""
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bert_reference as ref  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    h, inter, layers, vocab, heads = 768, 1152, 22, 50368, 12

    def lin(rows, cols, std=0.02):
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    ones = lambda: np.ones(h, np.float32)  # noqa: E731
    w = {"model.embeddings.tok_embeddings.weight": lin(vocab, h),
         "model.embeddings.norm.weight": ones()}
    for i in range(layers):
        p = f"model.layers.{i}."
        if i > 0:
            w[p + "attn_norm.weight"] = ones()
        w[p + "attn.Wqkv.weight"] = lin(3 * h, h, 0.05)
        w[p + "attn.Wo.weight"] = lin(h, h)
        w[p + "mlp_norm.weight"] = ones()
        w[p + "mlp.Wi.weight"] = lin(2 * inter, h, 0.05)
        w[p + "mlp.Wo.weight"] = lin(h, inter)
    w["model.final_norm.weight"] = ones()
    w["head.dense.weight"] = lin(h, h)
    w["head.norm.weight"] = ones()
    w["classifier.weight"] = lin(2, h)
    w["classifier.bias"] = np.zeros(2, np.float32)
    ref.write_safetensors(f"{out}/model.safetensors", w)
    fixture = os.path.join(ROOT, "tests", "fixtures", "tiny_modernbert_cls")
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    cfg.update(hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
               num_attention_heads=heads, vocab_size=vocab, max_position_embeddings=8192,
               local_attention=128, global_attn_every_n_layers=3, local_rope_theta=10000.0,
               norm_bias=False, attention_bias=False, mlp_bias=False, classifier_bias=False,
               pad_token_id=0)
    json.dump(cfg, open(f"{out}/config.json", "w"), indent=1)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(fixture, f), out)


if __name__ == "__main__":
    main()
