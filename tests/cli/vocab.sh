#!/usr/bin/env bash
# sparq vocab build: writes a WordPiece vocab.txt (specials first, alphabet, merges up to --size)
# from several corpus files that sparq tokenize then covers without [UNK]; --cased keeps case;
# bad input gives one "sparq: error:" line with exit code 1 (data) or 2 (command line).
set -uo pipefail
SPARQ="$1"; PY=/usr/bin/python3
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

printf 'The movie was great!\nthe movie was not great.\nA great, great film\r\n' > "$TMP/a.txt"
printf 'Café crème, the GREATEST movie\nthe film was the movie\n' > "$TMP/b.txt"

# Two corpora, lower-cased (default).
"$SPARQ" vocab build --corpus "$TMP/a.txt" --corpus "$TMP/b.txt" --size 56 --out "$TMP/v/vocab.txt" \
  > "$TMP/msg" 2>&1 && fail "missing output directory must fail" || true
mkdir -p "$TMP/v" "$TMP/c"
"$SPARQ" vocab build --corpus "$TMP/a.txt" --corpus "$TMP/b.txt" --size 56 --out "$TMP/v/vocab.txt" > "$TMP/msg" \
  || fail "vocab build exited $?"
grep -q "wrote 56 tokens" "$TMP/msg" || fail "summary line: $(cat "$TMP/msg")"
echo '{"do_lower_case": true}' > "$TMP/v/tokenizer_config.json"
$PY - "$TMP/v/vocab.txt" <<'PYEOF' || fails=$((fails + 1))
import sys
v = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert v[-1] == "", "file must end with a newline"
v = v[:-1]
assert len(v) == 56, len(v)
assert v[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], v[:5]
assert len(set(v)) == len(v), "duplicate tokens"
for t in ["the", "movie", "great", "e", "##e", "c", "##e"]:
    assert t in v, f"{t!r} missing"
assert "The" not in v and "T" not in v, "lower-casing expected"
assert not any("é" in t for t in v), "accents must be stripped when lower-casing"
assert "\r" not in "".join(v)
PYEOF
# Every corpus line tokenizes without [UNK], and frequent words are single tokens.
"$SPARQ" tokenize "$TMP/v" --file "$TMP/a.txt" > "$TMP/tok" || fail "tokenize with the new vocab"
! grep -q '\[UNK\]' "$TMP/tok" || fail "[UNK] in $(cat "$TMP/tok")"
grep -q '"tokens":\["\[CLS\]","the","movie","was","great","!","\[SEP\]"\]' "$TMP/tok" || fail "tokens: $(head -1 "$TMP/tok")"

# --cased keeps case and accents; --lowercase gives the default result.
"$SPARQ" vocab build --corpus "$TMP/b.txt" --size 40 --out "$TMP/c/vocab.txt" --cased > /dev/null || fail "--cased"
grep -qx 'C' "$TMP/c/vocab.txt" && grep -qx '##é' "$TMP/c/vocab.txt" || fail "--cased alphabet: $(tr '\n' ' ' < "$TMP/c/vocab.txt")"
"$SPARQ" vocab build --corpus "$TMP/a.txt" --corpus "$TMP/b.txt" --size 56 --out "$TMP/l.txt" --lowercase > /dev/null \
  || fail "--lowercase"
cmp -s "$TMP/l.txt" "$TMP/v/vocab.txt" || fail "--lowercase differs from the default"

# Errors: one line, exit 1 for data, 2 for the command line, nothing on stdout.
printf 'ok line\nbad \xff byte\n' > "$TMP/bad.txt"
expect() {  # expect CODE PATTERN -- command...
  local want="$1" pat="$2"; shift 3
  "$@" > "$TMP/out" 2> "$TMP/err"; local code=$?
  if [ "$code" != "$want" ] || [ "$(wc -l < "$TMP/err")" != 1 ] || ! grep -q "^sparq: error: .*$pat" "$TMP/err" \
     || [ -s "$TMP/out" ]; then
    fail "exit $code (want $want, /$pat/): $(cat "$TMP/err")"
  fi
}
expect 1 "cannot open corpus file '$TMP/none.txt'" -- "$SPARQ" vocab build --corpus "$TMP/none.txt" --size 50 --out "$TMP/x.txt"
expect 1 "bad.txt line 2" -- "$SPARQ" vocab build --corpus "$TMP/bad.txt" --size 50 --out "$TMP/x.txt"
expect 1 "" -- "$SPARQ" vocab build --corpus "$TMP/a.txt" --size 50 --out "$TMP/nodir/x.txt"
expect 2 "size" -- "$SPARQ" vocab build --corpus "$TMP/a.txt" --out "$TMP/x.txt"
expect 2 "corpus" -- "$SPARQ" vocab build --size 50 --out "$TMP/x.txt"
expect 2 "size" -- "$SPARQ" vocab build --corpus "$TMP/a.txt" --size 3 --out "$TMP/x.txt"
expect 2 "cased" -- "$SPARQ" vocab build --corpus "$TMP/a.txt" --size 50 --out "$TMP/x.txt" --cased --lowercase
expect 2 "" -- "$SPARQ" vocab
[ -e "$TMP/x.txt" ] && fail "no vocab may be written on error"

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "vocab: ok"
