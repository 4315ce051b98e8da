# Sourced by the CLI tests that run `sparq serve`: start / stop a server in the background.
# Needs SPARQ (the binary) and TMP (a scratch directory, its stderr goes to $TMP/err); sets PID
# and PORT. The caller's EXIT trap should kill "$PID" when it is not empty.

# Starts `sparq serve MODEL --port 0 ...` in the background; sets PID and PORT.
start() {
    "$SPARQ" serve "$@" --port 0 --threads 1 2> "$TMP/err" &
    PID=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$TMP/err" 2>/dev/null && break
        kill -0 "$PID" 2>/dev/null || { cat "$TMP/err"; echo "serve exited early"; exit 1; }
        sleep 0.1
    done
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/err")
    [ -n "$PORT" ] || { cat "$TMP/err"; echo "no port printed"; exit 1; }
}

# Stops it with SIGTERM: exit 0 and "stopped" on stderr.
stop() {
    kill -TERM "$PID"
    local rc=0
    wait "$PID" || rc=$?
    PID=""
    [ "$rc" = 0 ] || { cat "$TMP/err"; echo "serve exited $rc after SIGTERM"; exit 1; }
    grep -q "stopped" "$TMP/err"
}
