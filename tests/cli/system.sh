#!/usr/bin/env bash
# sparq system: the CPU, the kernels' instruction set (and SPARQ_MAX_ISA's cap), the CPUs the
# process may use and the default thread count with its reason (taskset, OMP_NUM_THREADS), as
# text and JSON; a bad SPARQ_MAX_ISA is one error line before any output.
set -euo pipefail
SPARQ="$1"; ROOT="${2:-.}"; PY=/usr/bin/python3

out=$("$SPARQ" system --no-rates)
for k in cpu isa cpus threads oneDNN; do
    grep -q "^$k " <<<"$out" || { echo "no '$k' line: $out"; exit 1; }
done
! grep -q "^f32 plan" <<<"$out" || { echo "--no-rates printed rates: $out"; exit 1; }
j=$("$SPARQ" system --json --no-rates)
$PY - "$j" "$(nproc)" <<'PYEOF'
import json, sys
d, nproc = json.loads(sys.argv[1]), int(sys.argv[2])
assert d["isa"] in ("scalar", "avx2", "avx512", "avx512_vnni", "amx"), d
assert 1 <= d["physical_cores"] <= d["affinity_cpus"] <= nproc, d
assert d["default_threads"] == d["physical_cores"] or d["omp_num_threads"] or d["cgroup_cpu_quota"], d
assert "rates" not in json.dumps(d), d
PYEOF
[ "$(OMP_NUM_THREADS=3 "$SPARQ" system --json --no-rates | $PY -c 'import json,sys; print(json.load(sys.stdin)["default_threads"])')" = 3 ]
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    taskset -c 0 "$SPARQ" system --no-rates | grep -q "^threads    1 by default (1 physical core)"
fi
SPARQ_MAX_ISA=scalar "$SPARQ" system --no-rates | grep -q "^isa        scalar for the kernels (the CPU has .*; capped by SPARQ_MAX_ISA=scalar)"
if SPARQ_MAX_ISA=bogus "$SPARQ" system --no-rates > /tmp/sparq_system_$$.out 2> /tmp/sparq_system_$$.err; then
    echo "bad SPARQ_MAX_ISA accepted"; exit 1
fi
[ ! -s /tmp/sparq_system_$$.out ] && [ "$(wc -l < /tmp/sparq_system_$$.err)" = 1 ] &&
    grep -q "unknown ISA 'bogus'" /tmp/sparq_system_$$.err
rm -f /tmp/sparq_system_$$.out /tmp/sparq_system_$$.err
# How OpenMP threads wait: the command re-executes itself with GOMP_SPINCOUNT=1000 unless the user
# chose a policy. libgomp's own reading (OMP_DISPLAY_ENV prints it when libgomp loads: once per
# process image) is the proof that the value reached it.
spins() {  # the GOMP_SPINCOUNT values libgomp printed, in order, for the command "$@"
    env OMP_DISPLAY_ENV=verbose "$@" 2>&1 >/dev/null | sed -n "s/^ *GOMP_SPINCOUNT = '\(.*\)'/\1/p" | tr '\n' ' '
}
clean=(env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u LD_PRELOAD)
got=$(spins "${clean[@]}" "$SPARQ" system --no-rates)
[ "$(awk '{print $NF}' <<<"$got")" = 1000 ] || { echo "libgomp did not get GOMP_SPINCOUNT=1000: '$got'"; exit 1; }
"${clean[@]}" "$SPARQ" system --no-rates | grep -q "^wait       spin GOMP_SPINCOUNT=1000 rounds, then sleep (sparq's default"
[ "$("${clean[@]}" "$SPARQ" system --no-rates --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["gomp_spincount"])')" = 1000 ]
# The user's choice stands (one process image: no exec), and so does libgomp's default where no
# parallel region runs (tokenize) or under valgrind (its preload library; a missing one here).
[ "$(spins "${clean[@]}" GOMP_SPINCOUNT=77 "$SPARQ" system --no-rates)" = "77 " ]
[ "$(spins "${clean[@]}" OMP_WAIT_POLICY=passive "$SPARQ" system --no-rates)" = "0 " ]
"${clean[@]}" OMP_WAIT_POLICY=passive "$SPARQ" system --no-rates | grep -q "^wait       OMP_WAIT_POLICY=passive$"
[ "$(spins "${clean[@]}" "$SPARQ" tokenize "$ROOT/tests/fixtures/tiny_base" hello)" = "300000 " ]
[ "$(spins "${clean[@]}" LD_PRELOAD=/nonexistent/vgpreload_memcheck-amd64-linux.so "$SPARQ" system --no-rates)" = "300000 " ]
# With the rates (built-in ones: no measuring in a test).
SPARQ_NO_CALIBRATION=1 "$SPARQ" system | grep -q "^f32 plan   dense .* GFLOP/s over nonzeros (built-in)"
echo "system: ok"
