#!/usr/bin/env python3
"""Summarize a parallel-region trace (src/core/region_trace.hpp).

    SPARQ_REGION_TRACE=/tmp/regions.txt build/sparq bench MODEL -b 1 -s 128 --threads 2
    scripts/region_trace.py /tmp/regions.txt [--ghz 2.6] [--skip 0.5]

The k-th record of a label on every thread is taken as the same region instance (true when all
threads of the team run every instrumented region, as in a forward split by stages; a batch
split by sequences runs whole forwards per thread, whose "regions" are not shared). Per label:
instances, each thread's mean time inside, the mean skew of the threads' exits (what the
earlier threads wait at the region's end), of their entries, and the mean serial gap between
the previous region's last exit and this one's first entry; then the totals per instance of
the whole trace. Times in microseconds from TSC ticks at --ghz (the TSC rate, not the core
clock: `dmesg | grep tsc`). --skip drops that fraction of the instances first (warm-up).
"""
import argparse
import collections
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--ghz", type=float, default=2.6, help="TSC GHz (default 2.6)")
    ap.add_argument("--skip", type=float, default=0.5, help="fraction of instances to drop first")
    a = ap.parse_args()

    per_thread = collections.defaultdict(list)  # thread -> [(label, begin, end)]
    with open(a.file) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) < 5:
                sys.exit(f"{a.file}:{n}: expected 'thread index label begin end'")
            thread, label = int(parts[0]), " ".join(parts[2:-2])
            per_thread[thread].append((label, int(parts[-2]), int(parts[-1])))
    if not per_thread:
        sys.exit(f"{a.file}: no records")
    threads = sorted(per_thread)

    # Instances: the k-th occurrence of a label on each thread.
    occ = {t: collections.defaultdict(list) for t in threads}
    for t in threads:
        for label, b, e in per_thread[t]:
            occ[t][label].append((b, e))
    instances = []  # (label, [(b, e) per thread])
    for label in occ[threads[0]]:
        n = min(len(occ[t][label]) for t in threads)
        for k in range(n):
            instances.append((label, [occ[t][label][k] for t in threads]))
    instances.sort(key=lambda x: min(b for b, _ in x[1]))
    instances = instances[int(len(instances) * a.skip):]
    if not instances:
        sys.exit("no instances left after --skip")

    us = 1.0 / (a.ghz * 1e3)
    stats = collections.OrderedDict()
    prev_end = None
    for label, spans in instances:
        s = stats.setdefault(label, {"n": 0, "in": [0.0] * len(threads), "exit": 0.0, "entry": 0.0, "gap": 0.0})
        s["n"] += 1
        for i, (b, e) in enumerate(spans):
            s["in"][i] += (e - b) * us
        ends = [e for _, e in spans]
        begins = [b for b, _ in spans]
        s["exit"] += (max(ends) - min(ends)) * us
        s["entry"] += (max(begins) - min(begins)) * us
        if prev_end is not None:
            s["gap"] += max(0, min(begins) - prev_end) * us
        prev_end = max(ends)

    print(f"{len(threads)} threads, {len(instances)} region instances (after --skip {a.skip})")
    head = "label".ljust(14) + "count".rjust(7) + "".join(f"  t{t} in".rjust(10) for t in threads)
    print(head + "  exit skew  entry skew  gap before   (us, means)")
    total_skew = total_gap = 0.0
    for label, s in stats.items():
        n = s["n"]
        row = label.ljust(14) + str(n).rjust(7) + "".join(f"{v / n:10.1f}" for v in s["in"])
        print(row + f"{s['exit'] / n:11.1f}{s['entry'] / n:12.1f}{s['gap'] / n:12.1f}")
        total_skew += s["exit"]
        total_gap += s["gap"]
    span = (max(e for _, sp in instances for _, e in sp) - min(b for _, sp in instances for b, _ in sp)) * us
    print(f"whole trace {span:.0f} us: exit skew {total_skew:.0f} us ({100 * total_skew / span:.1f}%), "
          f"serial gaps {total_gap:.0f} us ({100 * total_gap / span:.1f}%)")


if __name__ == "__main__":
    main()
