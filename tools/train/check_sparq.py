"""Checks that sparq runs a trained model directory exactly like the Python training code:
`sparq classify` on the SST-2 dev sentences must give the label and probability written in
MODEL_DIR/dev_predictions.jsonl (|dp| <= tolerance), and the independent reference forward of
tools/bert_reference.py must give the same probabilities from model.safetensors.

  check_sparq.py SPARQ OUT MODEL_DIR [--n N] [--tol 1e-5] [--kernels auto|dense|sparse]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bert_reference  # noqa: E402
import data as D  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sparq")
    ap.add_argument("out")
    ap.add_argument("model_dir")
    ap.add_argument("--n", type=int, default=0, help="first N dev sentences (0: all)")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--kernels", default="auto", help="sparq --kernels auto|dense|sparse")
    ap.add_argument("--eval", action="store_true",
                    help="also compare `sparq eval --predictions` on sst2/dev.tsv example by example")
    ap.add_argument("--ref", type=int, default=16, help="sentences checked with bert_reference")
    a = ap.parse_args()
    texts = open(os.path.join(a.out, "sst2_dev.txt"), encoding="utf-8").read().splitlines()
    preds = [json.loads(l) for l in open(os.path.join(a.model_dir, "dev_predictions.jsonl"))]
    n = a.n or len(texts)
    proc = subprocess.run([a.sparq, "classify", a.model_dir, "--threads", "1",
                           "--kernels", a.kernels],
                          input="\n".join(texts[:n]) + "\n", stdout=subprocess.PIPE,
                          check=True, text=True)
    got = [json.loads(l) for l in proc.stdout.splitlines()]
    assert len(got) == n, f"sparq gave {len(got)} lines for {n} texts"
    worst, label_diff, correct = 0.0, 0, 0
    for i in range(n):
        p = got[i]["scores"]["positive"]
        worst = max(worst, abs(p - preds[i]["prob_positive"]))
        label_diff += got[i]["label"] != preds[i]["label"]
        correct += (got[i]["label"] == "positive") == (preds[i]["gold"] == 1)
    # independent reference on the cached ids
    seqs, _ = D.load_split(os.path.join(a.out, "sst2_dev.npz"))
    config = json.load(open(os.path.join(a.model_dir, "config.json")))
    weights, _, _ = bert_reference.read_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    ref_worst = 0.0
    for i in range(min(a.ref, n)):
        ids = [list(map(int, seqs[i]))]
        o = bert_reference.forward(config, weights, ids, [[1] * len(ids[0])], [[0] * len(ids[0])])
        lg = o["logits"][0]
        p = float(np.exp(lg[1]) / np.exp(lg).sum())
        ref_worst = max(ref_worst, abs(p - preds[i]["prob_positive"]))
    ok = worst <= a.tol and label_diff == 0 and ref_worst <= a.tol
    doc = {"model": a.model_dir, "n": n, "sparq_accuracy": correct / n,
           "label_mismatches": label_diff, "max_abs_prob_diff_sparq": worst,
           "max_abs_prob_diff_reference": ref_worst}
    if a.eval:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            pf = os.path.join(tmp, "preds.jsonl")
            proc = subprocess.run([a.sparq, "eval", a.model_dir, "--data",
                                   os.path.join(D.DATA, "sst2", "dev.tsv"), "--threads", "1",
                                   "--kernels", a.kernels, "--json", "--predictions", pf],
                                  stdout=subprocess.PIPE, check=True, text=True)
            summary = json.loads(proc.stdout)
            ev = [json.loads(l) for l in open(pf)]
        assert len(ev) == len(preds), f"sparq eval gave {len(ev)} predictions"
        e_label = e_gold = 0
        e_worst = 0.0
        for mine, theirs in zip(preds, ev):
            assert theirs["index"] == mine["index"]
            e_gold += theirs["gold"] != ("positive" if mine["gold"] == 1 else "negative")
            e_label += theirs["predicted"] != mine["label"]
            e_worst = max(e_worst, abs(theirs["score"] - mine["prob"]))
        doc.update({"eval_accuracy": summary["accuracy"], "eval_gold_mismatches": e_gold,
                    "eval_label_mismatches": e_label, "eval_max_abs_prob_diff": e_worst})
        ok = ok and e_gold == 0 and e_label == 0 and e_worst <= a.tol
    doc["ok"] = ok
    print(json.dumps(doc))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
