#!/usr/bin/env python3
"""The Python module `sparq` against the PyTorch references of the fixtures and the `sparq` CLI.

Run by ctest as: test_binding.py SPARQ_BINARY SOURCE_DIR (PYTHONPATH holds the module).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import sparq

SPARQ, SRC = sys.argv[1], sys.argv[2]
FIX = os.path.join(SRC, "tests", "fixtures")


def reference(name, case):
    with open(os.path.join(FIX, name, "reference.json")) as f:
        ref = json.load(f)
    return [c for c in ref["cases"] if c["name"] == case][0]


def cli(*args):
    threads = [] if args[0] == "tokenize" else ["--threads", "1"]
    out = subprocess.run([SPARQ, *args, *threads], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


class Binding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = sparq.Model(os.path.join(FIX, "tiny_base"), threads=1)
        cls.cls = sparq.Model(os.path.join(FIX, "tiny_cls"), threads=1)

    def test_embed_and_encode_match_pytorch(self):
        ref = reference("tiny_base", "sentence")
        text = ref["texts"][0][0]
        n = sum(ref["attention_mask"][0])
        hs = np.array(ref["last_hidden_state"][0][:n], dtype=np.float64)
        emb = self.base.embed([text])
        self.assertEqual(emb.dtype, np.float32)
        self.assertEqual(emb.shape, (1, self.base.config["hidden_size"]))
        self.assertLess(np.abs(emb[0] - hs.mean(axis=0)).max(), 1e-4)
        cls_norm = self.base.embed([text], pooling="cls", normalize=True)[0]
        self.assertLess(np.abs(cls_norm - hs[0] / np.linalg.norm(hs[0])).max(), 1e-4)
        self.assertLess(np.abs(self.base.embed([text], pooling="max")[0] - hs.max(axis=0)).max(), 1e-4)
        states = self.base.encode([text, "a second text"])
        self.assertEqual(len(states), 2)
        self.assertEqual(states[0].shape, (n, self.base.config["hidden_size"]))
        self.assertLess(np.abs(states[0] - hs).max(), 1e-4)
        self.assertEqual(self.base.embed([]).shape, (0, self.base.config["hidden_size"]))

    def test_encode_ids_matches_pytorch_padded(self):
        ref = reference("tiny_base", "sentence")
        ids = np.array(ref["input_ids"], dtype=np.int64)
        mask = np.array(ref["attention_mask"], dtype=np.int64)
        types = np.array(ref["token_type_ids"], dtype=np.int64)
        out = self.base.encode_ids(ids, mask, types)
        self.assertEqual(out.shape, ids.shape + (self.base.config["hidden_size"],))
        want = np.array(ref["last_hidden_state"], dtype=np.float64)
        self.assertLess(np.abs((out - want) * mask[..., None]).max(), 1e-4)
        self.assertEqual(np.abs(out * (1 - mask[..., None])).max(), 0.0)  # zeros at padding

    def test_same_numbers_as_the_cli(self):
        texts = ["the movie was great !", "i did not like this film"]
        self.assertEqual(self.cls.classify(texts, top_k=1),
                         [{k: v for k, v in j.items() if k != "text"} for j in cli("classify", os.path.join(FIX, "tiny_cls"), *texts, "--top-k", "1")])
        emb = self.base.embed(texts)
        for row, j in zip(emb, cli("embed", os.path.join(FIX, "tiny_base"), *texts)):
            # The CLI prints each float32 as its shortest round-tripping decimal.
            self.assertTrue(np.array_equal(row, np.array(j["embedding"], dtype=np.float32)))
        tok = sparq.Model(os.path.join(FIX, "tiny_tok"), threads=1)
        self.assertEqual(tok.classify(["alice lived in paris"])[0]["tokens"],
                         cli("classify", os.path.join(FIX, "tiny_tok"), "alice lived in paris")[0]["tokens"])
        # aggregation: the CLI's entities for every strategy (simple by default), with a pair too.
        ner, pair = "Alice lived in \u00c9vry, unfriendly people moved to Berlin", "alice lived in paris"
        for agg in ("none", "simple", "first", "average", "max"):
            want = cli("classify", os.path.join(FIX, "tiny_tok"), ner, "--pair", pair, "--aggregation", agg)[0]
            self.assertEqual(tok.classify([ner], pair=pair, aggregation=agg),
                             [{k: v for k, v in want.items() if k not in ("text", "pair")}])
        self.assertEqual(tok.classify([ner])[0]["entities"], tok.classify([ner], aggregation="simple")[0]["entities"])
        with self.assertRaisesRegex(ValueError, "aggregation"):
            tok.classify([ner], aggregation="mean")
        qa = sparq.Model(os.path.join(FIX, "tiny_qa"), threads=1)
        q, c = "who wrote the book ?", "the book was written by a famous writer in london ."
        got = qa.answer(q, c)
        want = cli("classify", os.path.join(FIX, "tiny_qa"), "--question", q, "--context", c)[0]
        self.assertEqual(got, {k: want[k] for k in ("answer", "score", "probability", "start", "end")})
        one = qa.answer(q, c, max_answer_len=1)
        self.assertEqual(one, {k: v for k, v in cli("classify", os.path.join(FIX, "tiny_qa"), "--question", q, "--context", c,
                                                     "--max-answer-len", "1")[0].items() if k in one})
        self.assertEqual(one["start"], one["end"])
        t = self.base.tokenize("hello world", pair="again")
        self.assertEqual(t["tokens"], cli("tokenize", os.path.join(FIX, "tiny_base"), "hello world", "--pair", "again")[0]["tokens"])

    def test_batch_size_does_not_change_results(self):
        texts = ["one", "a longer second text here", "three", "four four", "five"]
        # Same numbers up to oneDNN blocking a different token count differently (f32 rounding).
        self.assertLess(np.abs(self.base.embed(texts, batch_size=2) - self.base.embed(texts)).max(), 1e-5)
        for a, b in zip(self.base.encode(texts, batch_size=3), self.base.encode(texts)):
            self.assertEqual(a.shape, b.shape)
            self.assertLess(np.abs(a - b).max(), 1e-5)
        for a, b in zip(self.cls.classify(texts, batch_size=1), self.cls.classify(texts)):
            self.assertEqual(a["label"], b["label"])
            self.assertAlmostEqual(a["score"], b["score"], delta=1e-5)
        with self.assertRaisesRegex(ValueError, "batch_size"):
            self.base.embed(texts, batch_size=0)

    def test_config_and_plan(self):
        c = self.cls.config
        self.assertEqual(c["task"], "sequence-classification")
        self.assertEqual(c["labels"], ["negative", "positive"])
        self.assertEqual(c["precision"], "f32")
        self.assertIn("dense_f32", sparq.Model(os.path.join(FIX, "tiny_base"), threads=1, kernels="dense").plan())
        self.assertEqual(sparq.Model(os.path.join(FIX, "tiny_cls"), threads=1, precision="int8").config["precision"], "int8")
        self.assertEqual(self.base.config["tokenizer"], "WordPiece (vocab.txt), 390 tokens, model_max_length 512")

    def test_sentence_transformers_directory_sets_embed_defaults(self):
        # tiny_base laid out as sentence-transformers saves a model: Transformer + Pooling (mean)
        # + Normalize modules; embed() with no arguments must give SentenceTransformer.encode's
        # vector: the mean over the tokens, L2-normalized.
        ref = reference("tiny_base", "sentence")
        text = ref["texts"][0][0]
        n = sum(ref["attention_mask"][0])
        mean = np.array(ref["last_hidden_state"][0][:n], dtype=np.float64).mean(axis=0)
        with tempfile.TemporaryDirectory() as d:
            for f in os.listdir(os.path.join(FIX, "tiny_base")):
                shutil.copy(os.path.join(FIX, "tiny_base", f), d)
            os.mkdir(os.path.join(d, "1_Pooling"))
            with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
                json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                           "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}, f)
            with open(os.path.join(d, "modules.json"), "w") as f:
                json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
            m = sparq.Model(d, threads=1)
            emb = m.embed([text])[0]
            self.assertLess(np.abs(emb - mean / np.linalg.norm(mean)).max(), 1e-4)
            self.assertLess(np.abs(m.embed([text], normalize=False)[0] - mean).max(), 1e-4)

    def test_fill_mask_equals_the_cli(self):
        m = sparq.Model(os.path.join(FIX, "tiny_mlm"), threads=1)
        texts = ["the [MASK] was great !", "she thought the old [MASK] was [MASK] ."]
        got = m.fill_mask(texts, top_k=3)
        want = cli("fill-mask", os.path.join(FIX, "tiny_mlm"), "--top-k", "3", *texts)
        self.assertEqual(got, [j["masks"] for j in want])
        self.assertEqual([len(x) for x in got], [1, 2])
        with self.assertRaisesRegex(ValueError, "masked-LM head"):
            self.base.fill_mask(texts)

    def test_splade_equals_the_reference_and_the_cli(self):
        m = sparq.Model(os.path.join(FIX, "tiny_mlm"), threads=1)
        with open(os.path.join(FIX, "tiny_mlm", "splade.json")) as f:
            ref = json.load(f)
        got = m.embed(ref["texts"], pooling="splade")
        self.assertEqual(got.shape, (3, 390))
        want = np.array(ref["variants"][0]["vectors"])  # max, relu: no SpladePooling module
        self.assertLess(np.abs(got - want).max(), 1e-4 * (1 + want.max()))
        cli_rows = cli("embed", os.path.join(FIX, "tiny_mlm"), "--pooling", "splade", *ref["texts"])
        for row, line in zip(got, cli_rows):
            entries = sparq.sparse_entries(row)
            self.assertEqual([i for i, _ in entries], line["indices"])
            self.assertEqual([np.float32(v) for _, v in entries], [np.float32(v) for v in line["values"]])
        self.assertEqual(sparq.sparse_entries(got[0], top_k=2), sparq.sparse_entries(got[0])[:2])
        with self.assertRaisesRegex(ValueError, "truncate_dim does not apply to SPLADE"):
            m.embed(["x"], pooling="splade", truncate_dim=3)
        with self.assertRaisesRegex(ValueError, "masked-LM head"):
            self.base.embed(["x"], pooling="splade")

    def test_embed_prompt_and_truncate_dim_equal_the_cli(self):
        d = os.path.join(FIX, "tiny_base")
        got = self.base.embed(["the movie was great !"], prompt="query : ", truncate_dim=6)
        want = cli("embed", d, "--prompt", "query : ", "--truncate-dim", "6", "the movie was great !")
        self.assertEqual(got.shape, (1, 6))
        self.assertTrue(np.array_equal(got[0], np.array(want[0]["embedding"], dtype=np.float32)))
        with self.assertRaisesRegex(ValueError, "prompt name 'q'"):
            self.base.embed(["x"], prompt_name="q")

    def test_rerank_equals_the_cli(self):
        q, docs = "who wrote the book ?", ["the movie was great !", "a famous writer", "the book"]
        got = self.cls.rerank(q, docs)
        want = cli("rerank", os.path.join(FIX, "tiny_cls"), "--query", q, *docs)
        self.assertEqual(got, [{"index": j["index"], "score": j["score"]} for j in want])
        self.assertEqual(self.cls.rerank(q, docs, top_k=1), got[:1])
        with self.assertRaisesRegex(ValueError, "cross-encoder"):
            self.base.rerank(q, docs)

    def test_zero_shot_equals_the_cli(self):
        with tempfile.TemporaryDirectory() as tmp:
            nli = os.path.join(tmp, "nli")
            shutil.copytree(os.path.join(FIX, "tiny_cls"), nli)
            with open(os.path.join(nli, "config.json")) as f:
                cfg = json.load(f)
            cfg["id2label"] = {"0": "ENTAILMENT", "1": "contradiction"}
            cfg["label2id"] = {"ENTAILMENT": 0, "contradiction": 1}
            with open(os.path.join(nli, "config.json"), "w") as f:
                json.dump(cfg, f)
            m = sparq.Model(nli, threads=1)
            texts, labels = ["the movie was great !", "who wrote the book ?"], ["film", "book", "city"]
            for multi in (False, True):
                got = m.zero_shot(texts, labels, template="it is about {} .", multi_label=multi)
                want = cli("zero-shot", nli, "--labels", ",".join(labels), "--template", "it is about {} .",
                           *(["--multi-label"] if multi else []), *texts)
                self.assertEqual(got, [{k: j[k] for k in ("sequence", "labels", "scores")} for j in want])
            one = m.zero_shot(["hello"], ["a"])  # default template; one label: entailment vs contradiction
            self.assertEqual(one, [{k: j[k] for k in ("sequence", "labels", "scores")}
                                   for j in cli("zero-shot", nli, "--labels", "a", "hello")])
            self.assertEqual(m.zero_shot([], labels), [])
            with self.assertRaisesRegex(ValueError, "exactly once"):
                m.zero_shot(texts, labels, template="no slot")
            with self.assertRaisesRegex(ValueError, "at least one candidate label"):
                m.zero_shot(texts, [])
        with self.assertRaisesRegex(ValueError, "entailment label"):
            self.cls.zero_shot(texts, labels)

    def test_choose_equals_the_cli(self):
        sys.path.insert(0, os.path.join(SRC, "tools"))
        import bert_reference as ref
        with tempfile.TemporaryDirectory() as tmp:
            mc = os.path.join(tmp, "mc")
            shutil.copytree(os.path.join(FIX, "tiny_cls"), mc)
            w, _, _ = ref.read_safetensors(os.path.join(mc, "model.safetensors"))
            w["classifier.weight"], w["classifier.bias"] = w["classifier.weight"][:1], w["classifier.bias"][:1]
            ref.write_safetensors(os.path.join(mc, "model.safetensors"), w)
            with open(os.path.join(mc, "config.json")) as f:
                cfg = json.load(f)
            cfg["architectures"] = ["BertForMultipleChoice"]
            with open(os.path.join(mc, "config.json"), "w") as f:
                json.dump(cfg, f)
            m = sparq.Model(mc, threads=1)
            self.assertEqual(m.config["task"], "multiple-choice")
            prompt, choices = "alice lived in paris", ["before she moved .", "the movie was great !", "who ?"]
            for p in (prompt, None):
                got = m.choose(choices, prompt=p)
                want = cli("classify", mc, *(["--prompt", p] if p else []), *choices)[0]
                self.assertEqual(got, {k: want[k] for k in ("choice", "index", "score", "scores", "logits")})
                self.assertAlmostEqual(sum(got["scores"]), 1.0, places=5)
                self.assertEqual(m.choose(choices, prompt=p, batch_size=1), got)
            with self.assertRaisesRegex(ValueError, "at least 2 choices"):
                m.choose(["one"], prompt=prompt)
            with self.assertRaisesRegex(ValueError, "use choose"):
                m.classify(choices)
        with self.assertRaisesRegex(ValueError, "ForMultipleChoice"):
            self.cls.choose(choices, prompt=prompt)

    def test_errors_are_value_errors(self):
        with self.assertRaisesRegex(ValueError, "does not exist"):
            sparq.Model(os.path.join(FIX, "no_such_model"))
        with self.assertRaisesRegex(ValueError, "classification"):
            self.base.classify(["x"])
        with self.assertRaisesRegex(ValueError, "question-answering"):
            self.cls.answer("q", "c")
        with self.assertRaisesRegex(ValueError, "pooling"):
            self.base.embed(["x"], pooling="median")
        with self.assertRaisesRegex(ValueError, "kernel"):
            sparq.Model(os.path.join(FIX, "tiny_base"), kernels="fast")
        with self.assertRaisesRegex(ValueError, "shape"):
            self.base.encode_ids(np.zeros((2, 3), dtype=np.int64), np.ones((2, 4), dtype=np.int64))
        with self.assertRaises(TypeError):
            self.base.embed("not a list")
        self.assertTrue(issubclass(sparq.Error, ValueError))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
