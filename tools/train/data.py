"""SST-2 data preparation: texts out of the TSV files, ids from sparq's own tokenizer (so training
and inference see identical ids), cached as numpy arrays."""
import json
import os
import subprocess

import numpy as np

DATA = "/work/shared/data"


def read_tsv_column(path, column, header=True):
    """Values of one tab-separated column (by name if header, else by index)."""
    out = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if header:
        col = lines[0].split("\t").index(column)
        lines = lines[1:]
    else:
        col = column
    for line in lines:
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t")
        if col < len(parts):
            out.append(parts[col])
    return out


def sst2(split):
    """(sentences, labels) of SST-2 train or dev."""
    path = os.path.join(DATA, "sst2", f"{split}.tsv")
    texts = read_tsv_column(path, "sentence")
    labels = [int(x) for x in read_tsv_column(path, "label")]
    assert len(texts) == len(labels), path
    return texts, np.array(labels, dtype=np.int64)


def extra_unlabeled_texts():
    """Unlabeled sentences from the other GLUE-style sets in /work/shared/data for masked-LM
    pre-training (never SST-2 dev). Missing files are skipped."""
    texts = []
    specs = [
        ("cola/raw/in_domain_train.tsv", 3, False),
        ("rte/train.tsv", "sentence1", True), ("rte/train.tsv", "sentence2", True),
        ("trec/train_5500.label", None, False),
        ("sms_spam/SMSSpamCollection", 1, False),
    ]
    for rel, col, header in specs:
        path = os.path.join(DATA, rel)
        if not os.path.exists(path):
            continue
        if col is None:  # TREC: "LABEL:fine question ..."
            with open(path, encoding="latin-1") as f:
                texts += [l.split(" ", 1)[1].strip() for l in f if " " in l]
            continue
        try:
            texts += read_tsv_column(path, col, header)
        except (ValueError, UnicodeDecodeError):
            continue
    for name in ("mrpc", "stsb"):
        d = os.path.join(DATA, name)
        for root, _, files in os.walk(d):
            for fn in files:
                if fn.endswith((".tsv", ".txt", ".csv")) and "test" not in fn and "dev" not in fn:
                    try:
                        with open(os.path.join(root, fn), encoding="utf-8") as f:
                            for line in f:
                                for part in line.rstrip("\n").split("\t"):
                                    if len(part.split()) >= 4:
                                        texts.append(part)
                    except UnicodeDecodeError:
                        pass
    return [t.replace("\r", " ").strip() for t in texts if t.strip()]


def write_lines(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            assert "\n" not in t
            f.write(t + "\n")


def tokenize_with_sparq(sparq, vocab_dir, text_file, max_len):
    """Runs `sparq tokenize VOCAB_DIR --file F --max-length N`; returns a list of id lists."""
    proc = subprocess.run([sparq, "tokenize", vocab_dir, "--file", text_file, "--max-length",
                           str(max_len)], check=True, stdout=subprocess.PIPE)
    return [json.loads(l)["ids"] for l in proc.stdout.decode("utf-8").splitlines()]


def pack(id_lists):
    """Ragged id lists -> (flat int32 ids, int64 offsets of length n+1)."""
    lens = np.array([len(x) for x in id_lists], dtype=np.int64)
    offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    flat = np.fromiter((i for x in id_lists for i in x), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def unpack(flat, offsets):
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def save_split(path, id_lists, labels=None):
    flat, offsets = pack(id_lists)
    arrays = {"ids": flat, "offsets": offsets}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    np.savez(path, **arrays)


def load_split(path):
    z = np.load(path)
    seqs = unpack(z["ids"], z["offsets"])
    return seqs, (z["labels"] if "labels" in z.files else None)


def pad_batch(seqs, idx):
    """Right-padded [B, S] int64 ids and mask for the sequences `idx`."""
    n = max(len(seqs[i]) for i in idx)
    ids = np.zeros((len(idx), n), dtype=np.int64)
    mask = np.zeros((len(idx), n), dtype=np.int64)
    for r, i in enumerate(idx):
        s = seqs[i]
        ids[r, :len(s)] = s
        mask[r, :len(s)] = 1
    return ids, mask


def length_batches(lengths, batch_size, rng):
    """Shuffled batches of indices with similar lengths (less padding): sort by length plus
    noise, cut into batches, shuffle the batch order."""
    lengths = np.asarray(lengths, dtype=np.float64)
    order = np.argsort(lengths + rng.uniform(0, 3, size=len(lengths)), kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches
