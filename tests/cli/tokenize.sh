#!/usr/bin/env bash
# sparq tokenize reproduces the fixture reference tokens, ids and type ids (args, --file, stdin,
# --pair) and truncates with --max-length.
set -euo pipefail
SPARQ="$1"; SRC="$2"; PY=/usr/bin/python3
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT

# Every case with texts, through arguments (pairs via --pair).
$PY - "$FIX/tiny_cls/reference.json" > "$TMP/cases.tsv" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["cases"]:
    for b, (a, p) in enumerate(c.get("texts") or []):
        n = sum(c["attention_mask"][b])
        print(json.dumps({"text": a, "pair": p, "tokens": c["tokens"][b][:n],
                          "ids": c["input_ids"][b][:n], "type_ids": c["token_type_ids"][b][:n]}))
PYEOF
[ "$(wc -l < "$TMP/cases.tsv")" -ge 5 ] || { echo "too few reference cases"; exit 1; }
while IFS= read -r line; do
  text=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["text"])' "$line")
  pair=$($PY -c 'import json,sys; p=json.loads(sys.argv[1])["pair"]; print("" if p is None else p)' "$line")
  if [ -n "$pair" ]; then out=$("$SPARQ" tokenize "$FIX/tiny_cls" "$text" --pair "$pair")
  else out=$("$SPARQ" tokenize "$FIX/tiny_cls" "$text"); fi
  $PY - "$line" "$out" <<'PYEOF'
import json, sys
want, got = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("tokens", "ids", "type_ids"):
    assert got[k] == want[k], f"{k}: got {got[k]}, want {want[k]} for {want['text']!r}"
assert got["text"] == want["text"]
PYEOF
done < "$TMP/cases.tsv"

# stdin and --file give one line per input line, same ids as arguments.
printf 'the movie was great !\nwho wrote the book ?\n' > "$TMP/in.txt"
a=$("$SPARQ" tokenize "$FIX/tiny_cls" "the movie was great !" "who wrote the book ?")
b=$("$SPARQ" tokenize "$FIX/tiny_cls" --file "$TMP/in.txt")
c=$("$SPARQ" tokenize "$FIX/tiny_cls" < "$TMP/in.txt")
[ "$a" = "$b" ] && [ "$a" = "$c" ] || { echo "args/--file/stdin differ"; exit 1; }
[ "$(printf '%s\n' "$a" | wc -l)" = 2 ] || { echo "expected 2 lines"; exit 1; }

# --max-length truncates, special tokens included.
out=$("$SPARQ" tokenize "$FIX/tiny_cls" --max-length 4 "the movie was great !")
$PY -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["tokens"]==["[CLS]","the","movie","[SEP]"], d' "$out"
# Texts are taken verbatim: CLI11 would read "[MASK]" as the list ["MASK"] and "[a, b]" as two
# values; options may follow texts; "--" ends the options; an unknown option is refused.
"$SPARQ" tokenize "$FIX/tiny_cls" "[MASK]" "[the, movie]" --max-length 8 "a,b" -- "-5 days" "--x" > "$TMP/verbatim.jsonl"
$PY - "$TMP/verbatim.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["text"] for r in rows] == ["[MASK]", "[the, movie]", "a,b", "-5 days", "--x"], rows
assert rows[0]["tokens"] == ["[CLS]", "[MASK]", "[SEP]"], rows[0]
assert all(len(r["ids"]) <= 8 for r in rows)
PYEOF
if "$SPARQ" tokenize "$FIX/tiny_cls" "a" --bogus > /dev/null 2> "$TMP/err"; then echo "--bogus accepted"; exit 1; fi
grep -q "not expected: --bogus" "$TMP/err" || { cat "$TMP/err"; exit 1; }
echo "tokenize: ok"
