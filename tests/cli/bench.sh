#!/usr/bin/env bash
# sparq bench (table and --json, repetition options) and sparq peer-bench, the peers harness
# contract: .i64 inputs (padded batch from the fixture reference), one JSON line per shape with
# the documented fields, repetition rule, and a --dump-dir last_hidden_state [B][S][H] that
# matches the PyTorch reference on attended tokens. Invoked the way run_peers.sh calls engines.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_base"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

out=$("$SPARQ" bench "$M" --batch 2 --seq 16 --threads 1 --warmup 1 --reps 3 --json)
$PY - "$out" <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
assert d["batch"] == 2 and d["seq"] == 16 and d["threads"] == 1 and d["reps"] == 3 and d["warmup"] == 1, d
assert 0 < d["p10_ms"] <= d["median_ms"] <= d["p90_ms"], d
assert abs(d["throughput_seq_s"] - 2000.0 / d["median_ms"]) < 0.01 * d["throughput_seq_s"], d  # ms rounded to 1e-4
PYEOF
table=$("$SPARQ" bench "$M" --batch 1 --seq 8 --threads 1 --warmup-s 0 --target-s 0.05)
grep -q "^latency    median" <<<"$table" && grep -q "sequences/s" <<<"$table" || { echo "bad table: $table"; exit 1; }
grep -Eq "runs       [0-9]+ warm-up, ([5-9]|[1-9][0-9]+) timed" <<<"$table" || { echo "fewer than 5 reps: $table"; exit 1; }

# The default thread count follows the CPUs this process may use (core/cpu_limits.hpp), and
# OMP_NUM_THREADS; an explicit --threads wins over both.
threads_line() { "$@" "$M" --batch 1 --seq 8 --warmup 1 --reps 1 | grep '^setup'; }
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  line=$(threads_line taskset -c 0 "$SPARQ" bench)
  grep -q "threads 1 (default: 1 physical core)" <<<"$line" || { echo "taskset -c 0: $line"; exit 1; }
  line=$(threads_line taskset -c 0 "$SPARQ" bench --threads 2)
  grep -q "threads 2," <<<"$line" || { echo "taskset -c 0 --threads 2: $line"; exit 1; }
  line=$(threads_line taskset -c 0,1 "$SPARQ" bench)
  grep -Eq "threads [12] \(default: [12] (physical core|CPU)" <<<"$line" || { echo "taskset -c 0,1: $line"; exit 1; }
fi
line=$(OMP_NUM_THREADS=1 threads_line "$SPARQ" bench)
grep -q "threads 1 (default: OMP_NUM_THREADS)" <<<"$line" || { echo "OMP_NUM_THREADS=1: $line"; exit 1; }
line=$(OMP_NUM_THREADS=1 threads_line "$SPARQ" bench --threads 2)
grep -q "threads 2," <<<"$line" || { echo "OMP_NUM_THREADS=1 --threads 2: $line"; exit 1; }

# Inputs as make_inputs.py writes them: the reference's padded batch (3 x 19) and a 1 x 24 sentence.
$PY - "$M/reference.json" "$TMP/in" <<'PYEOF'
import json, os, struct, sys
ref = json.load(open(sys.argv[1]))
for name in ("batch3_padded", "sentence"):
    c = [c for c in ref["cases"] if c["name"] == name][0]
    b, s = len(c["input_ids"]), len(c["input_ids"][0])
    d = os.path.join(sys.argv[2], f"b{b}_s{s}")
    os.makedirs(d)
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        with open(os.path.join(d, k + ".i64"), "wb") as f:
            f.write(struct.pack(f"<{b * s}q", *[v for row in c[k] for v in row]))
    json.dump({"batch": b, "seq": s, "dtype": "int64", "names": ["input_ids", "attention_mask", "token_type_ids"]},
              open(os.path.join(d, "shape.json"), "w"))
PYEOF
CMD="$SPARQ peer-bench --variant f32 --kernels dense"
bash -c "$CMD \"\$@\"" ext --model-dir "$M" --inputs "$TMP/in" --shapes 3x19,1x24 --threads 1 \
  --warmup-s 0 --min-reps 2 --max-reps 4 --target-s 0 --dump-dir "$TMP/dump" > "$TMP/lines.jsonl"
$PY - "$M/reference.json" "$TMP" <<'PYEOF'
import json, struct, sys
ref = json.load(open(sys.argv[1])); t = sys.argv[2]
lines = [json.loads(l) for l in open(t + "/lines.jsonl")]
assert [(l["batch"], l["seq"]) for l in lines] == [(3, 19), (1, 24)], lines
for l in lines:
    for k in ("engine", "variant", "threads", "median_ms", "p10_ms", "p90_ms", "min_ms", "reps",
              "throughput_seq_s", "ext_load"):
        assert k in l, (k, l)
    assert l["variant"] == "f32" and l["threads"] == 1 and l["reps"] == 2 and l["warmup"] == 2, l
    assert l["p10_ms"] <= l["median_ms"] <= l["p90_ms"]
for name, (b, s) in (("batch3_padded", (3, 19)), ("sentence", (1, 24))):
    c = [c for c in ref["cases"] if c["name"] == name][0]
    raw = open(f"{t}/dump/b{b}_s{s}.f32", "rb").read()
    H = len(c["last_hidden_state"][0][0])
    assert len(raw) == b * s * H * 4, (len(raw), b, s, H)
    x = struct.unpack(f"<{b * s * H}f", raw)
    worst = 0.0
    for i in range(b):
        for j in range(s):
            for k in range(H):
                v = x[(i * s + j) * H + k]
                if c["attention_mask"][i][j]:
                    worst = max(worst, abs(v - c["last_hidden_state"][i][j][k]))
                else:
                    assert v == 0.0
    assert worst < 1e-4, (name, worst)
PYEOF
echo "bench: ok"
