#!/usr/bin/env bash
# sparq tokenize on byte-level BPE directories (vocab.json + merges.txt + config.json): a tiny
# RoBERTa-style vocabulary generated here (always run), and copies of the real roberta-base and
# gpt2 files from ../shared/data checked against the Hugging Face test vectors (skipped, with a
# message, when the shared data is absent).
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
DATA="${SPARQ_SHARED_DATA:-$SRC/../shared/data}"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

# Tiny vocabulary: <s> <pad> </s> <unk>, the 256 GPT-2 byte characters, a few merges, <mask>.
$PY - "$TMP/tiny" <<'PYEOF'
import json, os, sys
d = sys.argv[1]; os.makedirs(d)
bs = list(range(33, 127)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
byte = {b: chr(c) for b, c in zip(bs, cs)}
vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
for b in range(256):
    vocab[byte[b]] = len(vocab)
G = byte[32]
merges = ["h e", "l l", "he ll", "hell o", G + " w", "o r", G + "w or", G + "wor l", G + "worl d"]
for m in merges:
    a, b = m.split(" ")
    vocab.setdefault(a + b, len(vocab))
vocab["<mask>"] = len(vocab)
json.dump(vocab, open(d + "/vocab.json", "w", encoding="utf-8"), ensure_ascii=False)
open(d + "/merges.txt", "w", encoding="utf-8").write("#version: 0.2\n" + "\n".join(merges) + "\n")
json.dump({"model_type": "roberta", "max_position_embeddings": 6}, open(d + "/config.json", "w"))
PYEOF

check() {  # check DIR WANT_TOKENS_JSON WANT_TYPE_IDS_JSON sparq-args...
  local dir="$1" want="$2" types="$3"; shift 3
  local out; out=$("$SPARQ" tokenize "$dir" "$@")
  $PY - "$dir/vocab.json" "$want" "$types" "$out" <<'PYEOF'
import json, sys
vocab = json.load(open(sys.argv[1], encoding="utf-8"))
want, types, got = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
assert got["tokens"] == want, f"tokens: got {got['tokens']}, want {want}"
assert got["ids"] == [vocab[t] for t in want], f"ids: got {got['ids']}"
assert got["type_ids"] == types, f"type_ids: got {got['type_ids']}, want {types}"
PYEOF
}
G=$'\xc4\xa0'  # "Ġ"
check "$TMP/tiny" "[\"<s>\",\"hello\",\"${G}world\",\"</s>\"]" "[0,0,0,0]" "hello world"
check "$TMP/tiny" "[\"<s>\",\"hello\",\"</s>\",\"</s>\",\"${G}world\",\"</s>\"]" "[0,0,0,0,0,0]" \
  hello --pair " world"
# max_position_embeddings 6 caps the pair: longest-first leaves one token of each text.
check "$TMP/tiny" "[\"<s>\",\"hello\",\"</s>\",\"</s>\",\"hello\",\"</s>\"]" "[0,0,0,0,0,0]" \
  "hello world" --pair "hello world"
check "$TMP/tiny" "[\"<s>\",\"hello\",\"</s>\"]" "[0,0,0]" "hello world" --max-length 3
check "$TMP/tiny" "[\"<s>\",\"<mask>\",\"h\",\"i\",\"</s>\"]" "[0,0,0,0,0]" "<mask>hi"
printf 'hello world\n\n' | "$SPARQ" tokenize "$TMP/tiny" > "$TMP/stdin.jsonl"
[ "$(wc -l < "$TMP/stdin.jsonl")" = 2 ] || { echo "expected 2 lines from stdin"; exit 1; }
grep -q '"tokens":\["<s>","</s>"\]' "$TMP/stdin.jsonl" || { echo "empty line: want <s> </s>"; exit 1; }

# A bad merges file fails with one line naming the file and line.
cp -r "$TMP/tiny" "$TMP/bad"
printf '#version: 0.2\nh e\nthree parts here\n' > "$TMP/bad/merges.txt"
if "$SPARQ" tokenize "$TMP/bad" hi 2> "$TMP/err.txt"; then echo "bad merges accepted"; exit 1; fi
grep -q "merges.txt:3: expected a merge of two tokens" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }

VEC="$DATA/tokenizer_tests/hf_tokenizer_test_vectors.json"
if [ ! -f "$VEC" ] || [ ! -d "$DATA/vocab/roberta-base" ] || [ ! -d "$DATA/vocab/gpt2" ]; then
  echo "SKIP: shared data not found at $DATA (set SPARQ_SHARED_DATA); real-vocabulary checks skipped"
  exit 0
fi
cp -r "$DATA/vocab/roberta-base" "$TMP/roberta"; chmod -R u+w "$TMP/roberta"
echo '{"model_type": "roberta", "max_position_embeddings": 514}' > "$TMP/roberta/config.json"
cp -r "$DATA/vocab/gpt2" "$TMP/gpt2"; chmod -R u+w "$TMP/gpt2"
echo '{"model_type": "gpt2", "n_positions": 1024}' > "$TMP/gpt2/config.json"
# Every case whose text can be a command-line argument (no NUL), all texts in one run per model.
$PY - "$SPARQ" "$VEC" "$TMP" <<'PYEOF'
import json, subprocess, sys
sparq, vec, tmp = sys.argv[1:]
models = json.load(open(vec, encoding="utf-8"))["models"]
checked = 0
for name, m in models.items():
    if m["vocab"] not in ("roberta", "gpt2"):
        continue
    cases = [c for c in m["cases"].values() if "\0" not in c["text"] and "text_pair" not in c]
    out = subprocess.run([sparq, "tokenize", f"{tmp}/{m['vocab']}"] + [c["text"] for c in cases],
                         check=True, capture_output=True).stdout.decode("utf-8").splitlines()
    assert len(out) == len(cases), (name, len(out), len(cases))
    for c, line in zip(cases, out):
        got = json.loads(line)
        specials = ["<s>"], ["</s>"]
        want_tokens = specials[0] + c["tokens"] + specials[1] if m["vocab"] == "roberta" else c["tokens"]
        assert got["text"] == c["text"]
        assert got["ids"] == c["ids"], f"{name} {c['text']!r}: ids {got['ids']} != {c['ids']}"
        assert got["tokens"] == want_tokens, f"{name} {c['text']!r}: tokens {got['tokens']}"
        assert got["type_ids"] == [0] * len(c["ids"])
        checked += 1
assert checked >= 60, checked
print(f"{checked} HF vector cases match through sparq tokenize")
PYEOF
