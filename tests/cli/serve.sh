#!/usr/bin/env bash
# sparq serve as a user runs it: --port 0 prints the chosen port; /health, /embed and
# /v1/embeddings (against the PyTorch reference's mean pooling), /classify and /zero-shot (as
# `sparq zero-shot` prints) over real HTTP; SIGTERM stops it with exit 0; bad options exit 2, a
# port already taken exits 1 with one clear line.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
M="$SRC/tests/fixtures/tiny_base"
C="$SRC/tests/fixtures/tiny_cls"
TMP="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

source "$SRC/tests/cli/lib/serve.bash"  # start / stop

start "$M"
$PY - "$PORT" "$M" <<'PYEOF'
import json, sys, urllib.request, urllib.error
port, d = sys.argv[1], sys.argv[2]
url = f"http://127.0.0.1:{port}"
def call(path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
assert call("/health") == (200, {"status": "ok"})
ref = [c for c in json.load(open(d + "/reference.json"))["cases"] if c["name"] == "sentence"][0]
H = json.load(open(d + "/config.json"))["hidden_size"]
hs, n = ref["last_hidden_state"][0], sum(ref["attention_mask"][0])
mean = [sum(hs[t][k] for t in range(n)) / n for k in range(H)]
status, j = call("/embed", {"texts": [ref["texts"][0][0]]})
assert status == 200, j
assert j["tokens"] == [n], j["tokens"]
assert max(abs(a - b) for a, b in zip(j["embeddings"][0], mean)) < 1e-4
status, j = call("/classify", {"text": "x"})
assert status == 400 and "use /embed" in j["error"], j
status, j = call("/embed", {"texts": "x"})
assert status == 400 and "array of strings" in j["error"], j
# OpenAI's embeddings API as a client of it sends it: the same vector, float or base64 float32.
import base64, struct
status, j = call("/v1/embeddings", {"input": [ref["texts"][0][0]], "model": "m"})
assert status == 200 and j["object"] == "list" and j["usage"]["total_tokens"] == n, j
assert max(abs(a - b) for a, b in zip(j["data"][0]["embedding"], mean)) < 1e-4
status, j = call("/v1/embeddings", {"input": ref["texts"][0][0], "encoding_format": "base64"})
v = struct.unpack(f"<{H}f", base64.b64decode(j["data"][0]["embedding"]))
assert status == 200 and max(abs(a - b) for a, b in zip(v, mean)) < 1e-4, j
status, j = call("/v1/embeddings", {"input": [[1, 2]]})
assert status == 400 and "token-id" in j["error"]["message"], j
PYEOF
stop

start "$C"
$PY - "$PORT" <<'PYEOF'
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/classify"
req = urllib.request.Request(url, data=json.dumps({"texts": ["a good film", "bad"], "top_k": 1}).encode())
with urllib.request.urlopen(req, timeout=30) as r:
    j = json.loads(r.read())
assert len(j["results"]) == 2 and all(len(x["scores"]) == 1 for x in j["results"]), j
assert all(x["label"] in ("negative", "positive") for x in j["results"]), j
PYEOF
# /zero-shot needs an NLI model: tiny_cls (negative, positive) is refused with a 400.
$PY - "$PORT" <<'PYEOF'
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/zero-shot",
                             data=json.dumps({"text": "x", "labels": ["a"]}).encode())
try:
    urllib.request.urlopen(req, timeout=30)
    raise SystemExit("expected a 400")
except urllib.error.HTTPError as e:
    assert e.code == 400 and "entailment label" in json.loads(e.read())["error"]
PYEOF
# The port is taken while this one runs: a second server fails with one line, exit 1.
rc=0; timeout 20 "$SPARQ" serve "$C" --port "$PORT" 2> "$TMP/err2" || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/err2"; echo "expected exit 1 for a taken port, got $rc"; exit 1; }
grep -q "cannot listen on 127.0.0.1:$PORT" "$TMP/err2"
[ "$(wc -l < "$TMP/err2")" = 1 ]
stop

# POST /zero-shot on an NLI model (tiny_cls relabelled entailment / contradiction): the same
# results as `sparq zero-shot` prints, over real HTTP.
cp -r "$C" "$TMP/nli"
$PY - "$TMP/nli/config.json" <<'PYEOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["id2label"], cfg["label2id"] = {"0": "contradiction", "1": "entailment"}, {"contradiction": 0, "entailment": 1}
json.dump(cfg, open(sys.argv[1], "w"))
PYEOF
"$SPARQ" zero-shot "$TMP/nli" --labels "film,book,city" --multi-label --threads 1 \
    "the movie was great !" "alice read it in paris" > "$TMP/zs.jsonl"
start "$TMP/nli"
$PY - "$PORT" "$TMP/zs.jsonl" <<'PYEOF'
import json, sys, urllib.request
port, cli = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])]
info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=30).read())
assert "POST /zero-shot" in info["endpoints"], info
assert info["tokenizer"].startswith("WordPiece (vocab.txt), "), info
body = {"texts": ["the movie was great !", "alice read it in paris"], "labels": ["film", "book", "city"],
        "multi_label": True}
req = urllib.request.Request(f"http://127.0.0.1:{port}/zero-shot", data=json.dumps(body).encode())
with urllib.request.urlopen(req, timeout=30) as r:
    j = json.loads(r.read())
assert j["results"] == [{k: c[k] for k in ("sequence", "labels", "scores")} for c in cli], (j, cli)
PYEOF
stop

# A model whose float32 arithmetic overflows (one query weight 3e38): 500 with the reason, not a
# 400 (the request is fine) nor results full of nulls.
mkdir "$TMP/huge" && cp "$C"/* "$TMP/huge/"
$PY - "$TMP/huge/model.safetensors" <<'PYEOF'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["bert.encoder.layer.0.attention.self.query.weight"]
struct.pack_into("<f", b, 8 + n + t["data_offsets"][0], 3e38)
open(p, "wb").write(b)
PYEOF
start "$TMP/huge"
$PY - "$PORT" <<'PYEOF'
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/classify", data=b'{"texts": ["hello"]}')
try:
    urllib.request.urlopen(req, timeout=30)
    raise SystemExit("an overflowing model answered 200")
except urllib.error.HTTPError as e:
    body = json.loads(e.read())
    assert e.code == 500 and "the model computed NaN" in json.dumps(body), (e.code, body)
PYEOF
stop

rc=0; "$SPARQ" serve "$M" --port 70000 2> "$TMP/err3" || rc=$?
[ "$rc" = 2 ] || { cat "$TMP/err3"; echo "expected exit 2 for --port 70000, got $rc"; exit 1; }
rc=0; "$SPARQ" serve "$TMP/nowhere" --port 0 2> "$TMP/err4" || rc=$?
[ "$rc" = 1 ] && grep -q "does not exist" "$TMP/err4"
echo "serve: ok"
