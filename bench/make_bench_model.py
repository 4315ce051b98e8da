#!/usr/bin/env python3
"""Benchmark-sized models with random weights (docs/benchmarks.md runs 18 and 19); prune and
quantize them with `sparq prune` / `sparq quantize`.

modernbert: ModernBERT-base-shaped: 22 layers, hidden 768, 12 heads, intermediate 1152 (gated:
  Wi [2304, 768]), every third layer global and the others within +-64 tokens, vocabulary 50368,
  a 2-label sequence-classification head; the tokenizer files of tests/fixtures/tiny_modernbert_cls.
deberta: DeBERTa-v3-base-shaped: 12 layers, hidden 768, 12 heads, intermediate 3072, vocabulary
  128100, relative attention with 256 log buckets over 512 positions (c2p + p2c, shared key
  projections, the relative embeddings LayerNorm'ed), no absolute positions or token types, a
  3-label sequence-classification head (ContextPooler + classifier) as the NLI / zero-shot
  fine-tunes have; the tokenizer files of tests/fixtures/tiny_deberta_cls.
nomic: nomic-embed-text-v1.5-shaped NomicBertModel: 12 post-norm layers, n_embd 768, 12 heads,
  Q / K / V in one attn.Wqkv [2304, 768], rotary positions (base 1000, the whole head, up to
  n_positions 8192, no rotary_scaling_factor), the SwiGLU MLP fc2(fc11(x) * silu(fc12(x))) of
  width n_inner 3072, no linear biases (LayerNorms with bias, eps 1e-12), vocabulary 30528,
  2 token types, no pooler; the config.json and tokenizer files of tests/fixtures/tiny_nomic.
jina: jina-embeddings-v2-base-en-shaped JinaBertModel: 12 post-norm layers, hidden 768, 12 heads,
  BERT's separate query / key / value with biases, ALiBi (no position table, max_position_embeddings
  8192), the GEGLU MLP mlp.wo(gelu(gated) * non_gated) of mlp.gated_layers [6144, 768] (no bias),
  vocabulary 30528, 2 token types, a pooler; the config.json and tokenizer files of
  tests/fixtures/tiny_jina.
The fixtures' token ids are in range of the big vocabularies.

    /usr/bin/python3 bench/make_bench_model.py {modernbert,deberta,nomic,jina} OUT_DIR
"""
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bert_reference as ref  # noqa: E402


def lin(rng, rows, cols, std=0.02):
    return (rng.standard_normal((rows, cols)) * std).astype(np.float32)


def vec(rng, n, std=0.02):
    return (rng.standard_normal(n) * std).astype(np.float32)


def write_model(out, w, fixture_name, tokenizer_files, **config):
    """The weights, the fixture's config.json updated with `config`, its tokenizer files."""
    ref.write_safetensors(f"{out}/model.safetensors", w)
    fixture = os.path.join(ROOT, "tests", "fixtures", fixture_name)
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    cfg.update(config)
    json.dump(cfg, open(f"{out}/config.json", "w"), indent=1)
    for f in tokenizer_files:
        shutil.copy(os.path.join(fixture, f), out)


def modernbert(out, rng):
    h, inter, layers, vocab, heads = 768, 1152, 22, 50368, 12

    ones = lambda: np.ones(h, np.float32)  # noqa: E731
    w = {"model.embeddings.tok_embeddings.weight": lin(rng, vocab, h),
         "model.embeddings.norm.weight": ones()}
    for i in range(layers):
        p = f"model.layers.{i}."
        if i > 0:
            w[p + "attn_norm.weight"] = ones()
        w[p + "attn.Wqkv.weight"] = lin(rng, 3 * h, h, 0.05)
        w[p + "attn.Wo.weight"] = lin(rng, h, h)
        w[p + "mlp_norm.weight"] = ones()
        w[p + "mlp.Wi.weight"] = lin(rng, 2 * inter, h, 0.05)
        w[p + "mlp.Wo.weight"] = lin(rng, h, inter)
    w["model.final_norm.weight"] = ones()
    w["head.dense.weight"] = lin(rng, h, h)
    w["head.norm.weight"] = ones()
    w["classifier.weight"] = lin(rng, 2, h)
    w["classifier.bias"] = np.zeros(2, np.float32)
    write_model(out, w, "tiny_modernbert_cls", ("tokenizer.json", "tokenizer_config.json"),
                hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, vocab_size=vocab, max_position_embeddings=8192,
                local_attention=128, global_attn_every_n_layers=3, local_rope_theta=10000.0,
                norm_bias=False, attention_bias=False, mlp_bias=False, classifier_bias=False,
                pad_token_id=0)



def deberta(out, rng):
    h, inter, layers, vocab, heads, buckets = 768, 3072, 12, 128100, 12, 256

    ones = lambda: np.ones(h, np.float32)  # noqa: E731
    p = "deberta."
    w = {p + "embeddings.word_embeddings.weight": lin(rng, vocab, h),
         p + "embeddings.LayerNorm.weight": ones(), p + "embeddings.LayerNorm.bias": vec(rng, h),
         p + "encoder.rel_embeddings.weight": lin(rng, 2 * buckets, h, 0.1),
         p + "encoder.LayerNorm.weight": ones(), p + "encoder.LayerNorm.bias": vec(rng, h)}
    for i in range(layers):
        lp = f"{p}encoder.layer.{i}."
        for n, rows, cols, std in (("attention.self.query_proj", h, h, 0.05),
                                   ("attention.self.key_proj", h, h, 0.05),
                                   ("attention.self.value_proj", h, h, 0.03),
                                   ("attention.output.dense", h, h, 0.03),
                                   ("intermediate.dense", inter, h, 0.03),
                                   ("output.dense", h, inter, 0.02)):
            w[lp + n + ".weight"] = lin(rng, rows, cols, std)
            w[lp + n + ".bias"] = vec(rng, rows)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[lp + n + ".weight"] = ones()
            w[lp + n + ".bias"] = vec(rng, h)
    w["pooler.dense.weight"] = lin(rng, h, h)
    w["pooler.dense.bias"] = vec(rng, h)
    w["classifier.weight"] = lin(rng, 3, h)
    w["classifier.bias"] = np.zeros(3, np.float32)
    write_model(out, w, "tiny_deberta_cls", ("spm.model", "tokenizer_config.json"),
                hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, vocab_size=vocab, max_position_embeddings=512,
                max_relative_positions=-1, position_buckets=buckets, norm_rel_ebd="layer_norm",
                position_biased_input=False, type_vocab_size=0, pooler_hidden_size=h,
                layer_norm_eps=1e-7)


def nomic(out, rng):
    h, inner, layers, vocab, heads = 768, 3072, 12, 30528, 12

    ones = lambda: np.ones(h, np.float32)  # noqa: E731
    w = {"embeddings.word_embeddings.weight": lin(rng, vocab, h),
         "embeddings.token_type_embeddings.weight": lin(rng, 2, h),
         "emb_ln.weight": ones(), "emb_ln.bias": vec(rng, h)}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        w[p + "attn.Wqkv.weight"] = lin(rng, 3 * h, h, 0.05)
        w[p + "attn.out_proj.weight"] = lin(rng, h, h)
        # 0.03: with 0.05 (ModernBERT's Wi) the random post-norm stack is chaotic (the int8
        # copy's hidden states at cosine ~0.5 to the f32 model's; 0.998 with 0.03)
        w[p + "mlp.fc11.weight"] = lin(rng, inner, h, 0.03)
        w[p + "mlp.fc12.weight"] = lin(rng, inner, h, 0.03)
        w[p + "mlp.fc2.weight"] = lin(rng, h, inner)
        for n in ("norm1", "norm2"):
            w[p + n + ".weight"] = ones()
            w[p + n + ".bias"] = vec(rng, h)
    write_model(out, w, "tiny_nomic", ("vocab.txt", "tokenizer_config.json"),
                n_embd=h, n_layer=layers, n_head=heads, n_inner=inner, vocab_size=vocab,
                type_vocab_size=2, n_positions=8192, rotary_emb_base=1000,
                activation_function="swiglu", qkv_proj_bias=False, mlp_fc1_bias=False,
                mlp_fc2_bias=False, layer_norm_epsilon=1e-12, rotary_scaling_factor=None)


def jina(out, rng):
    h, inter, layers, vocab, heads = 768, 3072, 12, 30528, 12

    ones = lambda: np.ones(h, np.float32)  # noqa: E731
    w = {"embeddings.word_embeddings.weight": lin(rng, vocab, h),
         "embeddings.token_type_embeddings.weight": lin(rng, 2, h),
         "embeddings.LayerNorm.weight": ones(), "embeddings.LayerNorm.bias": vec(rng, h)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            w[p + f"attention.self.{n}.weight"] = lin(rng, h, h, 0.05)
            w[p + f"attention.self.{n}.bias"] = vec(rng, h)
        w[p + "attention.output.dense.weight"] = lin(rng, h, h)
        w[p + "attention.output.dense.bias"] = vec(rng, h)
        w[p + "mlp.gated_layers.weight"] = lin(rng, 2 * inter, h, 0.03)  # as NomicBERT's fc11 / fc12
        w[p + "mlp.wo.weight"] = lin(rng, h, inter)
        w[p + "mlp.wo.bias"] = vec(rng, h)
        for n in ("attention.output.LayerNorm", "mlp.layernorm"):
            w[p + n + ".weight"] = ones()
            w[p + n + ".bias"] = vec(rng, h)
    w["pooler.dense.weight"] = lin(rng, h, h)
    w["pooler.dense.bias"] = vec(rng, h)
    write_model(out, w, "tiny_jina", ("vocab.txt", "tokenizer_config.json"),
                hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=inter, vocab_size=vocab, type_vocab_size=2,
                max_position_embeddings=8192)


KINDS = {"modernbert": modernbert, "deberta": deberta, "nomic": nomic, "jina": jina}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(__doc__)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    KINDS[sys.argv[1]](out, np.random.default_rng(0))


if __name__ == "__main__":
    main()
