"""Prints the markdown table of the model directories in OUT (variant, sparsity, pattern, dev
accuracy, training time) from their training_info.json files and OUT/times.tsv."""
import json
import os
import sys


def main():
    out = sys.argv[1]
    times = {}
    if os.path.exists(os.path.join(out, "times.tsv")):
        for line in open(os.path.join(out, "times.tsv")).read().splitlines()[1:]:
            k, v = line.split("\t")
            times[k] = int(v)
    rows = []
    for d in sorted(os.listdir(out)):
        p = os.path.join(out, d, "training_info.json")
        if not os.path.exists(p):
            continue
        info = json.load(open(p))
        rows.append((0 if info["pattern"] == "dense" else 1, info["pattern"], info["sparsity"], d,
                     info))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    print("| model dir | target sparsity | pattern | achieved sparsity (pruned matrices) | "
          "dev acc (872) | train steps | train time |")
    print("|---|---|---|---|---|---|---|")
    for _, pat, sp, d, info in rows:
        ach = info.get("achieved_sparsity", 0.0)
        t = info["train"]
        print(f"| {d} | {sp:.0%} | {pat} | {ach:.2%} | {info['dev_accuracy']:.2%} | "
              f"{t['steps']} | {t['seconds'] / 60:.1f} min |")
    if times:
        print()
        print("stage wall times (s): " + ", ".join(f"{k} {v}" for k, v in times.items()))


if __name__ == "__main__":
    main()
