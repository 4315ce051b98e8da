# Sourced by the CLI tests: checks that config.json edits sparq does not compute are refused.
# Needs SPARQ, PY and TMP.

# refuses_configs MODEL_DIR COMMAND TEXT EDIT...: each EDIT (Python on the config dict `c`) applied
# to a copy of MODEL_DIR makes `sparq COMMAND COPY TEXT` exit non-zero with one error line
# (warnings aside).
refuses_configs() {
    local model="$1" cmd="$2" text="$3"; shift 3
    local edit
    for edit in "$@"; do
        rm -rf "$TMP/bad"; cp -r "$model" "$TMP/bad"
        $PY -c "import json,sys; p=sys.argv[1]+'/config.json'; c=json.load(open(p)); $edit; json.dump(c,open(p,'w'))" "$TMP/bad"
        if "$SPARQ" "$cmd" "$TMP/bad" "$text" > /dev/null 2> "$TMP/err.txt"; then
            echo "accepted: $edit"; exit 1
        fi
        [ "$(grep -vc '^sparq: warning' "$TMP/err.txt")" = 1 ] || { echo "$edit:"; cat "$TMP/err.txt"; exit 1; }
    done
}
