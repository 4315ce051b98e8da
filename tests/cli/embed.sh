#!/usr/bin/env bash
# sparq embed: shapes (one vector of size hidden per text, one per token with --pooling none),
# values against the PyTorch reference last_hidden_state (mean and CLS pooling, per-token
# hidden states), --normalize, and batching that does not change results.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_base"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
text=$($PY -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["cases"] if c["name"]=="sentence"][0]; print(c["texts"][0][0])' "$M/reference.json")

"$SPARQ" embed "$M" "$text" > "$TMP/mean.jsonl"
"$SPARQ" embed "$M" "$text" --pooling cls > "$TMP/cls.jsonl"
"$SPARQ" embed "$M" "$text" --pooling mean --normalize > "$TMP/norm.jsonl"
"$SPARQ" embed "$M" "$text" --pooling none > "$TMP/none.jsonl"
$PY - "$M" "$TMP" <<'PYEOF'
import json, math, sys
d, tmp = sys.argv[1], sys.argv[2]
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == "sentence"][0]
H = json.load(open(d + "/config.json"))["hidden_size"]
hs = ref["last_hidden_state"][0]
n = sum(ref["attention_mask"][0])
mean = [sum(hs[t][k] for t in range(n)) / n for k in range(H)]
def one(name):
    lines = open(f"{tmp}/{name}.jsonl").read().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])
def close(a, b, tol=1e-4):
    assert len(a) == len(b), (len(a), len(b))
    assert max(abs(x - y) for x, y in zip(a, b)) < tol, max(abs(x - y) for x, y in zip(a, b))
close(one("mean")["embedding"], mean)
close(one("cls")["embedding"], hs[0])
norm = math.sqrt(sum(x * x for x in mean))
e = one("norm")["embedding"]
close(e, [x / norm for x in mean])
assert abs(sum(x * x for x in e) - 1) < 1e-5
none = one("none")
assert none["tokens"] == ref["tokens"][0][:n]
assert len(none["hidden"]) == n and all(len(r) == H for r in none["hidden"])
for t in range(n):
    close(none["hidden"][t], hs[t])
PYEOF

# Many texts: one line per text, in order; batch size does not change the vectors.
for i in $(seq 1 40); do echo "the movie number $i was great"; done > "$TMP/many.txt"
"$SPARQ" embed "$M" --file "$TMP/many.txt" --batch-size 7 > "$TMP/b7.jsonl"
"$SPARQ" embed "$M" --batch-size 32 < "$TMP/many.txt" > "$TMP/b32.jsonl"
$PY - "$TMP" <<'PYEOF'
import json, sys
tmp = sys.argv[1]
a = [json.loads(l) for l in open(tmp + "/b7.jsonl")]
b = [json.loads(l) for l in open(tmp + "/b32.jsonl")]
texts = open(tmp + "/many.txt").read().splitlines()
assert [x["text"] for x in a] == texts and [x["text"] for x in b] == texts
for x, y in zip(a, b):
    assert len(x["embedding"]) == 32
    assert max(abs(p - q) for p, q in zip(x["embedding"], y["embedding"])) < 1e-5
PYEOF
echo "embed: ok"
