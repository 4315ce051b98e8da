#!/usr/bin/env bash
# sparq tradeoff: tiny_cls base + a 50%-pruned copy (sparq prune) + the 90% fixture, at f32 and
# int8, plus a missing variant: CSV/JSON/SVG written, every point present, the failing variant
# recorded (not fatal), the frontier equals the non-dominated points computed here, speedups and
# deltas consistent, and the SVG parses as XML with every ok point labelled.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

"$SPARQ" prune "$FIX/tiny_cls" "$TMP/p50" --sparsity 0.5 > /dev/null
$PY - "$FIX/tiny_cls/reference.json" "$TMP/dev.tsv" <<'PYEOF'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
texts = [t[0] for c in cases for t in c.get("texts", []) if t[1] is None and t[0]]
with open(sys.argv[2], "w") as f:
    f.write("sentence\tlabel\n")
    for i in range(12):
        f.write(texts[i % len(texts)] + ("" if i < len(texts) else " again") + "\t" + str(i % 2) + "\n")
PYEOF
"$SPARQ" tradeoff --base "$FIX/tiny_cls" --variants "$TMP/p50" "$FIX/tiny_sparse" "$TMP/missing" \
  --precisions f32,int8 --data "$TMP/dev.tsv" --format tsv --limit 10 --batch 2 --seq 16 --threads 1 \
  --target-s 0.05 --warmup-s 0.01 --out "$TMP/to" > "$TMP/stdout.txt"
for f in to.csv to.json to.svg; do [ -s "$TMP/$f" ] || { echo "missing $f"; exit 1; }; done
grep -q "failed: model directory" "$TMP/stdout.txt" || { cat "$TMP/stdout.txt"; echo "no failure line"; exit 1; }
$PY - "$TMP" <<'PYEOF'
import csv, json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
j = json.load(open(d + "/to.json"))
pts = j["points"]
assert j["examples"] == 10 and j["metric"] == "accuracy", j
assert [(p["variant"], p["precision"]) for p in pts] == [("tiny_cls", "f32")] + [
    (v, pr) for v in ("p50", "tiny_sparse", "missing") for pr in ("f32", "int8")], pts
assert pts[0]["base"] and pts[0]["ok"] and pts[0]["delta"] == 0
assert j["base"]["rounds"] == 3 and all(p["runs"] >= 15 for p in pts if p["ok"]), pts
bad = [p for p in pts if not p["ok"]]
assert {(p["variant"]) for p in bad} >= {"missing"} and all(p["error"] for p in bad), bad
ok = [p for p in pts if p["ok"]]
assert len(ok) >= 5, pts  # base + p50/tiny_sparse at f32 at least
base_ms = j["base"]["median_ms"]
for p in ok:
    assert abs(p["speedup"] - base_ms / p["median_ms"]) <= 1e-3 * p["speedup"] + 1e-4, p
    assert abs(p["delta"] - (p["metric"] - j["base"]["metric"])) < 2e-6, p
# frontier: exactly the points no other ok point dominates (maximize speedup and metric)
def dominated(p):
    return any(q["speedup"] >= p["speedup"] and q["metric"] >= p["metric"] and
               (q["speedup"] > p["speedup"] or q["metric"] > p["metric"]) for q in ok)
for p in ok:
    assert p["frontier"] == (not dominated(p)), (p, ok)
assert any(p["frontier"] for p in ok)
rows = list(csv.DictReader(open(d + "/to.csv")))
assert len(rows) == len(pts)
for r, p in zip(rows, pts):
    assert r["variant"] == p["variant"] and r["precision"] == p["precision"]
    assert r["status"] == ("ok" if p["ok"] else "failed")
    assert r["frontier"] == ("1" if p.get("frontier") else "0")
root = ET.parse(d + "/to.svg").getroot()
assert root.tag.endswith("svg"), root.tag
texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
for p in ok:
    assert p["variant"] + " " + p["precision"] in texts, (p, texts)
for p in bad:
    assert p["variant"] + " " + p["precision"] not in texts
lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline") if e.get("class") == "frontier"]
nfront = sum(p["frontier"] for p in ok)
assert len(lines) == (1 if nfront > 1 else 0), (len(lines), nfront)
if lines:
    assert len(lines[0].get("points").split()) == nfront
PYEOF

# Bad precision is a usage error; a missing base is fatal.
set +e
"$SPARQ" tradeoff --base "$FIX/tiny_cls" --variants "$TMP/p50" --precisions f16 --data "$TMP/dev.tsv" 2> "$TMP/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "f16" "$TMP/err" || { echo "bad precision: exit $rc"; cat "$TMP/err"; exit 1; }
set +e
"$SPARQ" tradeoff --base "$TMP/nobase" --variants "$TMP/p50" --data "$TMP/dev.tsv" --out "$TMP/x" 2> "$TMP/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "nobase" "$TMP/err" || { echo "missing base: exit $rc"; cat "$TMP/err"; exit 1; }
echo "tradeoff.sh: ok"
