"""The driver shared by bench/peers_modernbert.py, bench/peers_deberta.py and bench/peers_nomic.py:
peers (ONNX Runtime fp32, PyTorch eager fp32) on a model that sparq also runs, on the same files,
with the peers harness' inputs and runner (../shared/tools/peers: make_inputs.py, run_ort.js), and
`sparq bench` in the same loop.

A script supplies `load_model(model_dir, variant) -> (nn.Module, config, weights)`: a float32
module whose forward(input_ids, attention_mask, token_type_ids) returns last_hidden_state and is
exportable to ONNX, and `variant` one of its torch variants (the first one is the one exported);
then `main(doc, script, load_model, ...)` does the rest as DRIVER_DOC says (the tail of every
script's --help): the numerics checks, the ONNX export (WORK/<model name>/model.onnx; inputs
input_ids, attention_mask, token_type_ids; output last_hidden_state), the timing loop, the table.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")  # before torch loads libblas (see README)

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bert_reference as ref  # noqa: E402

PEERS = os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(ROOT), "shared", "tools", "peers"))
NODE_MODULES = os.environ.get("NODE_PATH", "/tmp/peers-node/node_modules")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
NEG = torch.finfo(torch.float32).min


def key_mask(attention_mask, dtype):
    """[B, 1, 1, S]: NEG on padded keys (attention_mask 0), else 0 — the additive mask of the
    encoders' scores."""
    pad = (attention_mask == 0)[:, None, None, :]
    return torch.where(pad, torch.full((), NEG, dtype=dtype), torch.zeros((), dtype=dtype))
DRIVER_DOC = """
Numerics: each model's module against the float64 reference (tools/bert_reference.py) on a padded
batch (--check-shape; max |d| on real tokens < 1e-4, every torch variant), ORT's output of the
ONNX export (opset 14, dynamic batch / sequence) against torch's (< 1e-4 on every position).
Timing: ORT fp32 (run_ort.js, graphOptimizationLevel all) and torch fp32 eager (one process per
(model, threads, torch variant): torch.set_num_threads(N), inference_mode, warm-up, median of
>= --reps runs) for every shape and thread count on unpadded inputs (make_inputs.py, ids in
vocabulary range), prints one table and writes JSON lines (the harness' schema plus "model_name")
to --out. With --sparq, `sparq bench` runs in the same loop on every model (and on the
--sparq-only directories, e.g. `sparq quantize` copies), so the table's ratios come from one run.

Environment as the harness' run_peers.sh: NODE_PATH (default /tmp/peers-node/node_modules),
OPENBLAS_CORETYPE=SKYLAKEX unless set, torch OMP_WAIT_POLICY PASSIVE at 1 thread and, at 2+
threads, ACTIVE when the machine is idle when the process starts (else PASSIVE; recorded per row;
--omp-wait-policy overrides). Each timing process waits up to --wait-quiet s for an idle machine
first; ext_load = CPU used by other processes during the timing, in cores (> 0.2 flagged '!').
Numerics-only run: --no-timing; timing-only run on already exported models: --skip-export.
The tiny test fixtures work too (ids >= their small vocabularies are folded into range).
"""


# ------------------------------------------------------------------------------------------------
# weights

def read_model(model_dir, model_type=None):
    """config.json and model.safetensors (name -> numpy array) of a model directory; with
    `model_type`, refuses a config.json of another one."""
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if model_type is not None and config.get("model_type") != model_type:
        raise ValueError(f"{model_dir}: model_type {config.get('model_type')!r}, not {model_type}")
    weights, _, _ = ref.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return config, weights


def rename_parts(names):
    """hf_name for load_state: each dot-separated part of a module's state name through `names`
    (parts not in it kept)."""
    return lambda ours: ".".join(names.get(part, part) for part in ours.split("."))


def load_state(m, weights, hf_name, prefix, model_dir):
    """Loads every entry of m.state_dict() from `weights` (strict): hf_name(ours) is the Hugging
    Face name without the model's prefix; the weight is looked up as prefix + name, then name."""
    state = {}
    for ours in m.state_dict():
        hf = hf_name(ours)
        key = next((k for k in (prefix + hf, hf) if k in weights), None)
        if key is None:
            raise KeyError(f"{model_dir}: no weight for {hf}")
        state[ours] = torch.from_numpy(np.ascontiguousarray(weights[key], dtype=np.float32))
    m.load_state_dict(state, strict=True)
    return m.eval()


# ------------------------------------------------------------------------------------------------
# inputs, numerics, export

def read_inputs(d):
    with open(os.path.join(d, "shape.json")) as f:
        sh = json.load(f)
    return {k: np.fromfile(os.path.join(d, k + ".i64"), dtype="<i8").reshape(sh["batch"], sh["seq"])
            for k in INPUT_NAMES}


def make_inputs(out, shapes, vocab, padded=False):
    """make_inputs.py's inputs. Its ids are drawn from [1000, min(vocab, 30000)); for a smaller
    vocabulary (the tiny test fixtures) they are drawn for 30522 and ids >= vocab are folded
    into [3, vocab) (101 / 102 / 0 stay)."""
    cmd = [sys.executable, os.path.join(PEERS, "make_inputs.py"), "--out", out, "--shapes", shapes,
           "--vocab", str(vocab if vocab > 1000 else 30522)] + (["--padded"] if padded else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if vocab > 1000:
        return
    for shape in shapes.split(","):
        f = os.path.join(out, "b{}_s{}".format(*shape.split("x")), "input_ids.i64")
        ids = np.fromfile(f, dtype="<i8")
        np.where(ids >= vocab, 3 + ids % (vocab - 3), ids).astype("<i8").tofile(f)


def run_ort(model, inputs, shapes, threads, reps, dump_dir=None, timing=True):
    cmd = ["node", os.path.join(PEERS, "run_ort.js"), "--model", model, "--inputs", inputs,
           "--shapes", shapes, "--threads", str(threads), "--variant", "fp32"]
    if timing:
        cmd += ["--warmup-s", "0", "--min-reps", str(reps), "--max-reps", str(2 * reps), "--target-s", "2"]
    else:
        cmd += ["--warmup-s", "0", "--min-reps", "1", "--max-reps", "1", "--target-s", "0"]
    if dump_dir:
        cmd += ["--dump-dir", dump_dir]
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"run_ort.js failed ({p.returncode}): {p.stderr[-2000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def check_and_export(load_model, variants, model_dir, out_dir, check_inputs, check_shape, skip_export):
    """Returns a dict of the numerics results; writes out_dir/model.onnx (of variants[0])."""
    t0 = time.time()
    feeds = read_inputs(os.path.join(check_inputs, "b{}_s{}".format(*check_shape)))
    real = feeds["attention_mask"].astype(bool)
    res = {"model": model_dir, "check_shape": "{}x{}".format(*check_shape),
           "real_tokens": int(real.sum()), "padded_tokens": int((~real).sum())}
    want = ours = exported = None
    for variant in variants:
        m, config, weights = load_model(model_dir, variant)
        with torch.inference_mode():
            got = m(*(torch.from_numpy(feeds[k]) for k in INPUT_NAMES)).numpy()
        if want is None:
            want = ref.forward(config, weights, feeds["input_ids"], feeds["attention_mask"],
                               feeds["token_type_ids"], dtype=torch.float64)["last_hidden_state"]
            ours, exported = got, m
        d = np.abs(got.astype(np.float64) - want)
        tag = "torch" if variant == variants[0] else f"torch_{variant}"
        res[tag + "_vs_ref_max_abs_real"] = float(d[real].max())
        res[tag + "_vs_ref_max_abs_all"] = float(d.max())
    res["ref_max_abs"] = float(np.abs(want).max())
    res["torch_vs_ref_ok"] = all(v < 1e-4 for k, v in res.items() if k.endswith("_vs_ref_max_abs_real"))
    onnx_path = os.path.join(out_dir, "model.onnx")
    if not skip_export:
        os.makedirs(out_dir, exist_ok=True)
        ex = {k: torch.from_numpy(feeds[k]) for k in INPUT_NAMES}
        axes = {k: {0: "batch", 1: "sequence"} for k in INPUT_NAMES}
        axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
        with torch.no_grad():
            torch.onnx.export(exported, (ex["input_ids"], ex["attention_mask"], ex["token_type_ids"]),
                              onnx_path, input_names=list(INPUT_NAMES), output_names=["last_hidden_state"],
                              dynamic_axes=axes, opset_version=14, do_constant_folding=True)
        res["export_s"] = round(time.time() - t0, 1)
    # ORT vs torch on the same padded batch (every position, padding included)
    dump = os.path.join(out_dir, "dump")
    run_ort(onnx_path, check_inputs, "{}x{}".format(*check_shape), 1, 1, dump_dir=dump, timing=False)
    got = np.fromfile(os.path.join(dump, "b{}_s{}.f32".format(*check_shape)), dtype="<f4").reshape(ours.shape)
    e = np.abs(got - ours)
    res.update(ort_vs_torch_max_abs_all=float(e.max()), ort_vs_torch_max_abs_real=float(e[real].max()),
               ort_vs_ref_max_abs_real=float(np.abs(got.astype(np.float64) - want)[real].max()))
    res["ort_vs_torch_ok"] = res["ort_vs_torch_max_abs_all"] < 1e-4
    return res


# ------------------------------------------------------------------------------------------------
# torch timing worker (a separate process per (model, threads, variant): OMP_* must be set before
# torch loads)

def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def torch_worker(a, load_model):
    torch.set_num_threads(a.threads)
    t0 = time.time()
    m, _, _ = load_model(a.model_dir, a.variant)
    load_s = time.time() - t0
    hz = os.sysconf("SC_CLK_TCK")
    with torch.inference_mode():
        for shape in a.shapes.split(","):
            b, s = (int(x) for x in shape.split("x"))
            feeds = [torch.from_numpy(v) for v in read_inputs(os.path.join(a.inputs, f"b{b}_s{s}")).values()]
            for _ in range(a.warmup):
                m(*feeds)
            times = []
            j0, c0, w0 = busy_jiffies(), own_cpu_s(), time.perf_counter()
            for _ in range(a.reps):
                t = time.perf_counter()
                m(*feeds)
                times.append((time.perf_counter() - t) * 1e3)
            wall = time.perf_counter() - w0
            ext = max(0.0, ((busy_jiffies() - j0) / hz - (own_cpu_s() - c0)) / wall)
            ts = np.array(times)
            med = float(np.median(ts))
            print(json.dumps({
                "engine": "torch", "variant": a.variant, "model": a.model_dir, "batch": b, "seq": s,
                "threads": a.threads, "median_ms": round(med, 3),
                "p10_ms": round(float(np.percentile(ts, 10)), 3),
                "p90_ms": round(float(np.percentile(ts, 90)), 3), "min_ms": round(float(ts.min()), 3),
                "reps": len(times), "warmup": a.warmup, "throughput_seq_s": round(b * 1000.0 / med, 3),
                "load_s": round(load_s, 2), "ext_load": round(ext, 2), "version": torch.__version__,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}), flush=True)


def machine_idle():
    b0 = busy_jiffies()
    time.sleep(1)
    return busy_jiffies() - b0 < 20  # < 20% of a core used during 1 s (run_peers.sh's rule)


def wait_quiet(seconds):
    """Waits up to `seconds` for an idle machine (< 20% of a core busy during 1 s); True if idle."""
    t_end = time.time() + seconds
    while True:
        if machine_idle():
            return True
        if time.time() >= t_end:
            return False
        time.sleep(2)


def run_torch(script, model_dir, inputs, shapes, threads, reps, policy, variant):
    if policy == "auto":
        policy = "ACTIVE" if threads > 1 and machine_idle() else "PASSIVE"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=policy)
    cmd = [sys.executable, os.path.abspath(script), "--torch-worker", "--model-dir", model_dir,
           "--inputs", inputs, "--shapes", shapes, "--threads", str(threads), "--reps", str(reps),
           "--warmup", "2", "--variant", variant]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"torch worker failed ({p.returncode}): {p.stderr[-2000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def run_sparq(binary, model_dir, shapes, threads, reps):
    """`sparq bench --json` per shape (its own random ids in vocabulary range, as the peers' inputs;
    warm-up 2, then `reps` timed runs), in the table's row schema."""
    rows = []
    for shape in shapes.split(","):
        b, sq = (int(x) for x in shape.split("x"))
        out = subprocess.run([binary, "bench", model_dir, "-b", str(b), "-s", str(sq), "--threads",
                              str(threads), "--warmup", "2", "--reps", str(reps), "--json"],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        r.update(engine="sparq", version="main", variant=r.get("precision", "f32"))
        rows.append(r)
    return rows


# ------------------------------------------------------------------------------------------------

def print_table(rows, shapes, out):
    """One row per (engine[:variant], model, shape, threads), by shape, threads, model, engine."""
    versions = sorted({f"{r['engine']} {r['version']}" for r in rows})
    print(f"\n{', '.join(versions)}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}; "
          f"ext_load > 0.2 (other processes' CPU, cores) flagged '!'")
    for r in rows:
        r["label"] = r["engine"] if r["variant"] in ("fp32", "f32") else f"{r['engine']}:{r['variant']}"
    we = max([6] + [len(r["label"]) for r in rows])
    wm = max([6] + [len(r["model_name"]) for r in rows])
    hdr = (f"| {'engine':{we}} | {'model':{wm}} | {'shape':6} | threads | {'median ms':>10} | "
           f"{'p10-p90 ms':>17} | reps | ext_load |")
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    key = {s: i for i, s in enumerate(shapes.split(","))}
    for r in sorted(rows, key=lambda r: (key[f"{r['batch']}x{r['seq']}"], r["threads"], r["model_name"], r["label"])):
        flag = "!" if r.get("ext_load", 0) > 0.2 else " "
        shape = f"{r['batch']}x{r['seq']}"
        spread = f"{r['p10_ms']:.1f}-{r['p90_ms']:.1f}"
        print(f"| {r.pop('label'):{we}} | {r['model_name']:{wm}} | {shape:6} | {r['threads']:7} | "
              f"{r['median_ms']:10.1f} | {spread:>17} | {r['reps']:4} | {r.get('ext_load', 0):7.2f}{flag} |")
    print(f"\nJSON lines: {out}")


def main(doc, script, load_model, work, check_shape, check_help, variants=("fp32",), variants_help=""):
    """The command line of a peers script: `script` (its __file__, run again as the torch timing
    worker), `load_model(model_dir, variant)`, the default --work and --check-shape, and the torch
    variants load_model knows (the first is the default, the exported one and the reference of
    the numerics check)."""
    ap = argparse.ArgumentParser(description=doc + DRIVER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+")
    ap.add_argument("--work", default=work)
    ap.add_argument("--out", default=None, help="JSON lines (default WORK/results.jsonl)")
    ap.add_argument("--shapes", default="1x128,8x128,1x512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=10, help="timed runs per shape (ORT: >= reps, <= 2*reps, ~2 s)")
    ap.add_argument("--check-shape", default=check_shape, help=check_help)
    ap.add_argument("--omp-wait-policy", default="auto", help="torch: auto | PASSIVE | ACTIVE")
    ap.add_argument("--wait-quiet", type=float, default=30,
                    help="before each timing process, wait up to this many s for an idle machine")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--skip-export", action="store_true", help="reuse WORK/<name>/model.onnx")
    ap.add_argument("--sparq", help="the sparq binary: `sparq bench` timed in the same run, on every "
                                    "model and on the --sparq-only ones")
    ap.add_argument("--sparq-only", nargs="*", default=[],
                    help="model directories only sparq times (e.g. its int8 copies)")
    ap.add_argument("--torch-variants", default=variants[0],
                    help=f"torch variants timed, comma separated, from {','.join(variants)} "
                         f"[{variants[0]}]; all of them are checked against the reference. {variants_help}")
    # internal: torch timing worker
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=variants[0], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        a.threads = int(a.threads)
        return torch_worker(a, load_model)
    if not a.models:
        ap.error("--models is required")
    timed_variants = a.torch_variants.split(",")
    if not set(timed_variants) <= set(variants):
        ap.error(f"--torch-variants: from {','.join(variants)}")
    checked = [variants[0]] + [v for v in timed_variants if v != variants[0]]
    out = a.out or os.path.join(a.work, "results.jsonl")
    os.makedirs(a.work, exist_ok=True)
    names = {}
    for d in a.models + a.sparq_only:
        n = os.path.basename(os.path.normpath(d))
        names[d] = n if n not in names.values() else f"{n}-{len(names)}"
    vocab = min(json.load(open(os.path.join(d, "config.json")))["vocab_size"] for d in a.models)

    # numerics + export
    cb, cs = (int(x) for x in a.check_shape.split("x"))
    check_inputs = os.path.join(a.work, "inputs-check")
    make_inputs(check_inputs, a.check_shape, vocab, padded=True)
    checks = []
    torch.set_num_threads(os.cpu_count() or 1)
    for d in a.models:
        r = check_and_export(load_model, checked, d, os.path.join(a.work, names[d]), check_inputs, (cb, cs),
                             a.skip_export)
        r["model_name"] = names[d]
        checks.append(r)
        others = "".join(f"; torch {v} vs ref real {r[f'torch_{v}_vs_ref_max_abs_real']:.3g}" for v in checked[1:])
        print("numerics {}: torch vs ref max|d| real {:.3g} (all {:.3g}, |ref| max {:.3g}){}; ORT vs torch max|d| "
              "{:.3g} (real {:.3g}); ORT vs ref real {:.3g}; {} {}".format(
                  names[d], r["torch_vs_ref_max_abs_real"], r["torch_vs_ref_max_abs_all"], r["ref_max_abs"],
                  others, r["ort_vs_torch_max_abs_all"], r["ort_vs_torch_max_abs_real"],
                  r["ort_vs_ref_max_abs_real"], "OK" if r["torch_vs_ref_ok"] and r["ort_vs_torch_ok"] else "FAILED",
                  f"(export {r['export_s']} s)" if "export_s" in r else ""), flush=True)
    if not all(r["torch_vs_ref_ok"] and r["ort_vs_torch_ok"] for r in checks):
        sys.exit("numerics check failed")
    with open(out, "w") as f:
        for r in checks:
            f.write(json.dumps(dict(r, kind="numerics")) + "\n")
    if a.no_timing:
        return

    # timing: one process per (engine, model, threads[, torch variant]), looping over the shapes
    inputs = os.path.join(a.work, "inputs")
    make_inputs(inputs, a.shapes, vocab)
    rows = []
    t_start = time.time()
    for t in (int(x) for x in a.threads.split(",")):
        for d in a.models + (a.sparq_only if a.sparq else []):
            engines = [("ort", "fp32")] + [("torch", v) for v in timed_variants] if d in a.models else []
            for engine, variant in engines + ([("sparq", "")] if a.sparq else []):
                quiet = wait_quiet(a.wait_quiet)
                t0 = time.time()
                if engine == "ort":
                    got = run_ort(os.path.join(a.work, names[d], "model.onnx"), inputs, a.shapes, t, a.reps)
                elif engine == "sparq":
                    got = run_sparq(a.sparq, d, a.shapes, t, a.reps)
                else:
                    got = run_torch(script, d, inputs, a.shapes, t, a.reps, a.omp_wait_policy, variant)
                for r in got:
                    r["model_name"] = names[d]
                    r["kind"] = "timing"
                    r["quiet_at_start"] = quiet
                rows += got
                with open(out, "a") as f:
                    for r in got:
                        f.write(json.dumps(r) + "\n")
                print(f"  {engine}{':' + variant if engine == 'torch' else ''} {names[d]} {t}T: "
                      f"{time.time() - t0:.0f} s{'' if quiet else ' (machine busy at start)'}",
                      file=sys.stderr, flush=True)
    print(f"timing took {time.time() - t_start:.0f} s", file=sys.stderr)
    print_table(rows, a.shapes, out)
