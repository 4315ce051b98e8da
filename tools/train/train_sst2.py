"""SST-2 sentiment BERT from scratch: masked-LM pre-training, fine-tuning, gradual magnitude
pruning, dev evaluation. Run through tools/train/run_all.sh; see docs/training.md.

  train_sst2.py prep     --out OUT --sparq BIN      texts, vocab dir, tokenized ids (npz)
  train_sst2.py pretrain --out OUT [...]            masked-LM on all unlabeled text -> OUT/mlm.pt
  train_sst2.py finetune --out OUT [...]            dense SST-2 model -> OUT/sst2-dense/
  train_sst2.py prune    --out OUT --sparsity S --pattern unstructured|1x4 [...]
                                                    -> OUT/sst2-{pattern}-{S}/
  train_sst2.py teacher  --out OUT                  dense train-set logits for distillation
  train_sst2.py eval     MODEL_DIR --out OUT        dev accuracy + predictions.jsonl
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import model as M  # noqa: E402
import pruning as P  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# prep


def cmd_prep(a):
    out = a.out
    os.makedirs(out, exist_ok=True)
    vocab_dir = os.path.join(out, "vocab")
    os.makedirs(vocab_dir, exist_ok=True)
    tr_text, tr_y = D.sst2("train")
    dev_text, dev_y = D.sst2("dev")
    if a.limit:
        tr_text, tr_y = tr_text[:a.limit], tr_y[:a.limit]
    D.write_lines(os.path.join(out, "sst2_train.txt"), tr_text)
    D.write_lines(os.path.join(out, "sst2_dev.txt"), dev_text)
    extra = D.extra_unlabeled_texts()
    if a.limit:
        extra = extra[:a.limit]
    D.write_lines(os.path.join(out, "extra_unlabeled.txt"), extra)
    log(f"texts: {len(tr_text)} train, {len(dev_text)} dev, {len(extra)} extra unlabeled")
    vocab = os.path.join(vocab_dir, "vocab.txt")
    t0 = time.time()
    import subprocess
    subprocess.run([a.sparq, "vocab", "build", "--corpus", os.path.join(out, "sst2_train.txt"),
                    "--size", str(a.vocab_size), "--out", vocab, "--lowercase"], check=True)
    M.write_tokenizer_config(vocab_dir, a.max_len)
    log(f"vocab built in {time.time() - t0:.1f}s")
    t0 = time.time()
    for name, y in (("sst2_train", tr_y), ("sst2_dev", dev_y), ("extra_unlabeled", None)):
        ids = D.tokenize_with_sparq(a.sparq, vocab_dir, os.path.join(out, name + ".txt"), a.max_len)
        D.save_split(os.path.join(out, name + ".npz"), ids, y)
        lens = [len(x) for x in ids]
        unk = sum(int(np.sum(np.asarray(x) == 1)) for x in ids)
        log(f"{name}: {len(ids)} sequences, mean length {np.mean(lens):.1f}, max {max(lens)}, "
            f"[UNK] {unk}")
    log(f"tokenized in {time.time() - t0:.1f}s")


# ------------------------------------------------------------------------------------------------
# shared training plumbing


def vocab_size(out):
    with open(os.path.join(out, "vocab", "vocab.txt"), encoding="utf-8") as f:
        return sum(1 for _ in f)


def make_config(a, out):
    return M.make_config(vocab_size(out), a.hidden, a.layers, a.heads, a.intermediate, a.max_len,
                         a.dropout)


def lr_lambda(warmup, total):
    def f(step):
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def make_optimizer(model, lr, wd, warmup, total):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if (p.ndim < 2 or "LayerNorm" in n or "_ln" in n) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98),
                            eps=1e-6)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(warmup, total))


def predict(model, seqs, batch_size=128):
    """Softmax probabilities [N, 2] in eval mode."""
    model.eval()
    out = np.zeros((len(seqs), 2), dtype=np.float64)
    order = np.argsort([len(s) for s in seqs], kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            ids, mask = D.pad_batch(seqs, idx)
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
            out[idx] = torch.softmax(logits.double(), dim=-1).numpy()
    return out


def logits_of(model, seqs, batch_size=128):
    model.eval()
    out = np.zeros((len(seqs), 2), dtype=np.float32)
    order = np.argsort([len(s) for s in seqs], kind="stable")
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            ids, mask = D.pad_batch(seqs, idx)
            out[idx] = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    return out


def evaluate(model, out, model_dir=None):
    """Dev accuracy; with model_dir, writes model_dir/dev_predictions.jsonl (index, gold, pred,
    prob of pred, prob_positive)."""
    seqs, gold = D.load_split(os.path.join(out, "sst2_dev.npz"))
    probs = predict(model, seqs)
    pred = probs.argmax(axis=1)
    acc = float(np.mean(pred == gold))
    if model_dir:
        with open(os.path.join(model_dir, "dev_predictions.jsonl"), "w") as f:
            for i in range(len(seqs)):
                f.write(json.dumps({"index": i, "gold": int(gold[i]), "pred": int(pred[i]),
                                    "label": M.LABELS[pred[i]], "prob": float(probs[i, pred[i]]),
                                    "prob_positive": float(probs[i, 1])}) + "\n")
    return acc


def train_loop(model, seqs, labels, a, total_steps, tag, teacher=None, pruner=None, out=None):
    """AdamW + warmup/linear decay over total_steps on (seqs, labels); optional distillation
    targets (teacher logits [N,2]) and a gradual pruner. Returns stats."""
    rng = np.random.default_rng(a.seed)
    opt, sched = make_optimizer(model, a.lr, a.weight_decay, int(a.warmup * total_steps),
                                total_steps)
    lengths = [len(s) for s in seqs]
    step, t0, tokens, last_t, last_tok = 0, time.time(), 0, time.time(), 0
    run_loss = 0.0
    while step < total_steps:
        for idx in D.length_batches(lengths, a.batch_size, rng):
            if step >= total_steps:
                break
            if pruner is not None:
                pruner.update(step)
            model.train()
            ids, mask = D.pad_batch(seqs, idx)
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask))
            y = torch.from_numpy(labels[idx])
            loss = F.cross_entropy(logits, y, label_smoothing=a.label_smoothing)
            if teacher is not None and a.distill > 0:
                t = torch.from_numpy(teacher[idx]) / a.temperature
                kd = F.kl_div(F.log_softmax(logits / a.temperature, dim=-1),
                              F.log_softmax(t, dim=-1), reduction="batchmean", log_target=True)
                loss = (1 - a.distill) * loss + a.distill * a.temperature ** 2 * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if pruner is not None:
                pruner.apply()
            step += 1
            tokens += int(mask.sum())
            run_loss = 0.98 * run_loss + 0.02 * float(loss) if step > 1 else float(loss)
            if step % a.log_every == 0 or step == total_steps:
                now = time.time()
                msg = (f"{tag} step {step}/{total_steps} loss {run_loss:.4f} "
                       f"lr {sched.get_last_lr()[0]:.2e} {(tokens - last_tok) / (now - last_t):.0f} tok/s")
                if pruner is not None:
                    msg += f" sparsity {pruner.current_sparsity():.3f}"
                log(msg)
                last_t, last_tok = now, tokens
            if out and a.eval_every and step % a.eval_every == 0 and step < total_steps:
                log(f"{tag} step {step} dev acc {evaluate(model, out):.4f} (monitoring only)")
    dt = time.time() - t0
    return {"steps": total_steps, "seconds": round(dt, 1), "tokens": tokens,
            "tokens_per_second": round(tokens / dt, 1)}


def add_model_args(ap):
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.1)


def add_train_args(ap, lr, epochs, warmup=0.1):
    ap.add_argument("--out", required=True)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--epochs", type=float, default=epochs)
    ap.add_argument("--steps", type=int, default=0, help="overrides --epochs")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--warmup", type=float, default=warmup, help="fraction of steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)


def steps_for(a, n):
    return a.steps if a.steps else max(1, int(math.ceil(a.epochs * n / a.batch_size)))


# ------------------------------------------------------------------------------------------------
# masked-LM pre-training


def cmd_pretrain(a):
    torch.manual_seed(a.seed)
    out = a.out
    c = make_config(a, out)
    seqs = D.load_split(os.path.join(out, "sst2_train.npz"))[0]
    seqs += D.load_split(os.path.join(out, "extra_unlabeled.npz"))[0]
    seqs = [s for s in seqs if len(s) > 3]
    model = M.BertForMaskedLM(c)
    total = steps_for(a, len(seqs))
    log(f"pretrain: {len(seqs)} sequences, {total} steps, config {c['num_hidden_layers']}L "
        f"{c['hidden_size']}H, vocab {c['vocab_size']}")
    rng = np.random.default_rng(a.seed)
    opt, sched = make_optimizer(model, a.lr, a.weight_decay, int(a.warmup * total), total)
    lengths = [len(s) for s in seqs]
    step, t0, tokens, run_loss = 0, time.time(), 0, 0.0
    while step < total:
        for idx in D.length_batches(lengths, a.batch_size, rng):
            if step >= total:
                break
            model.train()
            ids, mask = D.pad_batch(seqs, idx)
            # 15% of the real non-special tokens; 80% [MASK], 10% random, 10% kept
            cand = (mask == 1) & (ids > 4)
            sel = cand & (rng.random(ids.shape) < 0.15)
            if not sel.any():
                continue
            target = ids[sel].copy()
            r = rng.random(ids.shape)
            inp = ids.copy()
            inp[sel & (r < 0.8)] = 4
            rnd = sel & (r >= 0.8) & (r < 0.9)
            inp[rnd] = rng.integers(5, c["vocab_size"], size=int(rnd.sum()))
            pos = torch.from_numpy(np.flatnonzero(sel.reshape(-1)))
            logits = model(torch.from_numpy(inp), torch.from_numpy(mask), pos)
            loss = F.cross_entropy(logits, torch.from_numpy(target))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            tokens += int(mask.sum())
            run_loss = 0.98 * run_loss + 0.02 * float(loss) if step > 1 else float(loss)
            if step % a.log_every == 0 or step == total:
                dt = time.time() - t0
                log(f"pretrain step {step}/{total} mlm loss {run_loss:.3f} {tokens / dt:.0f} tok/s")
    dt = time.time() - t0
    torch.save({"config": c, "bert": {k[5:]: v for k, v in model.state_dict().items()
                                      if k.startswith("bert.")}}, os.path.join(out, "mlm.pt"))
    info = {"steps": total, "seconds": round(dt, 1), "tokens": tokens,
            "tokens_per_second": round(tokens / dt, 1), "final_mlm_loss": round(run_loss, 4)}
    with open(os.path.join(out, "pretrain_info.json"), "w") as f:
        json.dump(info, f, indent=2)
    log(f"pretrain done in {dt:.0f}s")


# ------------------------------------------------------------------------------------------------
# fine-tuning and pruning


def cmd_finetune(a):
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    out = a.out
    c = make_config(a, out)
    model = M.BertForSequenceClassification(c)
    init = "random"
    mlm = os.path.join(out, "mlm.pt")
    if not a.no_mlm and os.path.exists(mlm):
        ck = torch.load(mlm)
        assert ck["config"]["hidden_size"] == c["hidden_size"], "mlm.pt has another shape"
        model.bert.load_state_dict(ck["bert"])
        init = "masked-LM pre-trained (mlm.pt)"
    seqs, labels = D.load_split(os.path.join(out, "sst2_train.npz"))
    total = steps_for(a, len(seqs))
    log(f"finetune: {len(seqs)} examples, {total} steps, init {init}, "
        f"{sum(p.numel() for p in model.parameters())} parameters")
    stats = train_loop(model, seqs, labels, a, total, "finetune", out=out)
    model_dir = os.path.join(out, a.name)
    acc = evaluate(model, out, model_dir=None)
    info = {"variant": "dense", "sparsity": 0.0, "pattern": "dense", "init": init,
            "dev_accuracy": acc, "train": stats, "args": vars(a)}
    M.save_model_dir(model, model_dir, os.path.join(out, "vocab", "vocab.txt"), extra=info)
    evaluate(model, out, model_dir=model_dir)
    log(f"finetune done: dev accuracy {acc:.4f} in {stats['seconds']:.0f}s -> {model_dir}")


def cmd_prune(a):
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    out = a.out
    dense_dir = os.path.join(out, a.dense)
    model = M.load_model_dir(dense_dir)
    seqs, labels = D.load_split(os.path.join(out, "sst2_train.npz"))
    teacher = None
    if a.distill > 0:
        cache = os.path.join(out, "teacher_logits.npy")
        if os.path.exists(cache):
            teacher = np.load(cache)
        else:
            t0 = time.time()
            teacher = logits_of(model, seqs)
            np.save(cache + ".tmp.npy", teacher)
            os.replace(cache + ".tmp.npy", cache)
            log(f"teacher logits computed in {time.time() - t0:.0f}s")
    total = steps_for(a, len(seqs))
    end = int(round(a.prune_end * total))
    pruner = P.GradualPruner(model, M.prunable_names(model.config), a.sparsity, a.pattern,
                             end_step=end, every=a.prune_every)
    tag = f"prune-{a.pattern}-{int(round(a.sparsity * 100))}"
    log(f"{tag}: {total} steps, pruning until step {end}, masks every {a.prune_every} steps, "
        f"distill {a.distill}")
    stats = train_loop(model, seqs, labels, a, total, tag, teacher=teacher, pruner=pruner, out=out)
    pruner.apply()
    achieved = pruner.check()
    acc = evaluate(model, out)
    name = f"sst2-{a.pattern}-{int(round(a.sparsity * 100))}"
    model_dir = os.path.join(out, name)
    info = {"variant": name, "sparsity": a.sparsity, "pattern": a.pattern,
            "achieved_sparsity": achieved, "dev_accuracy": acc, "train": stats,
            "from": dense_dir, "args": vars(a)}
    M.save_model_dir(model, model_dir, os.path.join(out, "vocab", "vocab.txt"), extra=info)
    evaluate(model, out, model_dir=model_dir)
    log(f"{tag} done: dev accuracy {acc:.4f}, sparsity {achieved:.4f}, "
        f"{stats['seconds']:.0f}s -> {model_dir}")


def cmd_teacher(a):
    """Caches the dense model's train-set logits (eval mode) for distillation."""
    torch.set_num_threads(a.threads)
    model = M.load_model_dir(os.path.join(a.out, a.dense))
    seqs = D.load_split(os.path.join(a.out, "sst2_train.npz"))[0]
    t0 = time.time()
    cache = os.path.join(a.out, "teacher_logits.npy")
    np.save(cache + ".tmp.npy", logits_of(model, seqs))
    os.replace(cache + ".tmp.npy", cache)
    log(f"teacher logits for {len(seqs)} examples in {time.time() - t0:.0f}s -> {cache}")


def cmd_eval(a):
    torch.set_num_threads(a.threads)
    model = M.load_model_dir(a.model_dir)
    acc = evaluate(model, a.out, model_dir=a.model_dir)
    print(json.dumps({"model": a.model_dir, "dev_accuracy": acc}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prep")
    p.add_argument("--out", required=True)
    p.add_argument("--sparq", required=True)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--limit", type=int, default=0, help="only the first N rows (smoke test)")

    p = sub.add_parser("pretrain")
    add_model_args(p)
    add_train_args(p, lr=1e-3, epochs=1.0, warmup=0.06)

    p = sub.add_parser("finetune")
    add_model_args(p)
    add_train_args(p, lr=5e-4, epochs=3.0)
    p.add_argument("--name", default="sst2-dense")
    p.add_argument("--no-mlm", action="store_true", help="ignore OUT/mlm.pt")

    p = sub.add_parser("prune")
    add_train_args(p, lr=2e-4, epochs=0.6, warmup=0.05)
    p.add_argument("--dense", default="sst2-dense", help="dense model dir inside OUT")
    p.add_argument("--sparsity", type=float, required=True)
    p.add_argument("--pattern", choices=["unstructured", "1x4"], default="unstructured")
    p.add_argument("--prune-end", type=float, default=2 / 3, help="fraction of steps")
    p.add_argument("--prune-every", type=int, default=25)
    p.add_argument("--distill", type=float, default=0.5, help="weight of the KD loss (0: off)")
    p.add_argument("--temperature", type=float, default=2.0)

    p = sub.add_parser("teacher")
    p.add_argument("--out", required=True)
    p.add_argument("--dense", default="sst2-dense")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("eval")
    p.add_argument("model_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)

    a = ap.parse_args()
    torch.set_num_threads(getattr(a, "threads", 1))
    {"prep": cmd_prep, "pretrain": cmd_pretrain, "finetune": cmd_finetune, "prune": cmd_prune,
     "teacher": cmd_teacher, "eval": cmd_eval}[a.cmd](a)


if __name__ == "__main__":
    main()
