#!/usr/bin/python3
"""Peers (ONNX Runtime fp32, PyTorch eager fp32) on a ModernBERT-base-shaped model that sparq also
runs (bench/make_bench_model.py modernbert), on the same files, with the peers harness' inputs and runner
(../shared/tools/peers: make_inputs.py, run_ort.js).

For each model directory (Hugging Face ModernBertForSequenceClassification: config.json +
model.safetensors):
  1. builds a float32 torch nn.Module of the ModernBERT encoder (Hugging Face eager semantics, as
     tools/bert_reference.py's _forward_modernbert: pre-norm, rotary rotate-half with float32
     cos/sin tables as buffers, local layers see keys with |i - j| <= local_attention // 2, every
     global_attn_every_n_layers-th layer global, gated GELU MLP, final norm; padding as an additive
     finfo(float32).min) returning last_hidden_state;
  2. checks it against the float64 reference on a padded batch (max |d| on real tokens < 1e-4);
  3. exports it to ONNX (opset 14, dynamic batch / sequence; inputs input_ids, attention_mask,
     token_type_ids - the last one ignored by ModernBERT but kept as a graph input through a
     `0 * token_type_ids` term, since run_ort.js feeds all three; output last_hidden_state) as
     WORK/<model name>/model.onnx, and checks ORT's output (run_ort.js --dump-dir) against torch's;
then times ORT fp32 (run_ort.js, graphOptimizationLevel all) and torch fp32 eager (one process per
(model, threads): torch.set_num_threads(N), inference_mode, warm-up, median of >= --reps runs) for
every shape and thread count on unpadded inputs (make_inputs.py, ids in vocabulary range), prints
one table and writes JSON lines (the harness' schema plus "model_name") to --out.

    /usr/bin/python3 bench/peers_modernbert.py --models /tmp/mb/base /tmp/mb/p90 \\
        --work /tmp/mb/peers --out /tmp/mb/peers.jsonl \\
        [--sparq build/sparq --sparq-only /tmp/mb/q /tmp/mb/p90q]

With --sparq, `sparq bench` runs in the same loop on every model (and on the --sparq-only
directories, e.g. `sparq quantize` copies), so the table's ratios come from one run.

Environment as the harness' run_peers.sh: NODE_PATH (default /tmp/peers-node/node_modules),
OPENBLAS_CORETYPE=SKYLAKEX unless set, torch OMP_WAIT_POLICY PASSIVE at 1 thread and, at 2+
threads, ACTIVE when the machine is idle when the process starts (else PASSIVE; recorded per row;
--omp-wait-policy overrides). Each timing process waits up to --wait-quiet s for an idle machine
first; ext_load = CPU used by other processes during the timing, in cores (> 0.2 flagged '!').
Numerics-only run: --no-timing; timing-only run on already exported models: --skip-export.
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
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bert_reference as ref  # noqa: E402

PEERS = os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(ROOT), "shared", "tools", "peers"))
NODE_MODULES = os.environ.get("NODE_PATH", "/tmp/peers-node/node_modules")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
NEG = torch.finfo(torch.float32).min


# ------------------------------------------------------------------------------------------------
# the model

class Norm(nn.Module):
    """nn.LayerNorm(hidden, eps, bias=norm_bias) (torch 1.13's LayerNorm has no bias=False).
    Without norm_bias the bias is a zero buffer: the same values, and the opset-14 export
    (decomposed LayerNorm) then ends in the Add that ORT's LayerNormFusion matches (without it ORT
    only reached ReduceMean + Sub + SimplifiedLayerNormalization)."""

    def __init__(self, hidden, eps, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        if bias:
            self.bias = nn.Parameter(torch.zeros(hidden))
        else:
            self.register_buffer("bias", torch.zeros(hidden), persistent=False)
        self.eps, self.shape = eps, (hidden,)

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


class Layer(nn.Module):
    def __init__(self, c, i):
        super().__init__()
        h, inter = c["hidden"], c["intermediate"]
        self.heads, self.hd = c["heads"], h // c["heads"]
        self.is_global = ref.modernbert_layer_is_global(i, c["config"])
        self.attn_norm = Norm(h, c["eps"], c["norm_bias"]) if i > 0 else nn.Identity()
        self.Wqkv = nn.Linear(h, 3 * h, bias=c["attention_bias"])
        self.Wo = nn.Linear(h, h, bias=c["attention_bias"])
        self.mlp_norm = Norm(h, c["eps"], c["norm_bias"])
        self.Wi = nn.Linear(h, 2 * inter, bias=c["mlp_bias"])
        self.Wo_mlp = nn.Linear(inter, h, bias=c["mlp_bias"])
        self.act = c["act"]

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], dim=-1)

    def forward(self, x, global_mask, local_mask, ropes):
        b, s, hidden = x.shape
        cos, sin = ropes[0] if self.is_global else ropes[1]
        qkv = self.Wqkv(self.attn_norm(x)).view(b, s, 3, self.heads, self.hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, S, d]
        q = q * cos + self.rotate_half(q) * sin
        k = k * cos + self.rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(-1, -2)) * (self.hd ** -0.5)
        scores = scores + (global_mask if self.is_global else local_mask)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, heads, S, d]
        x = x + self.Wo(ctx.transpose(1, 2).reshape(b, s, hidden))
        inp, gate = self.Wi(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.Wo_mlp(self.act(inp) * gate)


class ModernBertEncoder(nn.Module):
    """ModernBertModel (eval, eager attention) -> last_hidden_state [B, S, H] in float32."""

    def __init__(self, config, max_positions=8192):
        super().__init__()
        st = ref.modernbert_settings(config)
        acts = {"gelu": F.gelu, "gelu_pytorch_tanh": lambda t: F.gelu(t, approximate="tanh"),
                "gelu_new": lambda t: F.gelu(t, approximate="tanh")}
        c = dict(st, config=config, norm_bias=bool(config.get("norm_bias", False)),
                 attention_bias=bool(config.get("attention_bias", False)),
                 mlp_bias=bool(config.get("mlp_bias", False)), act=acts[st["hidden_activation"]])
        h = st["hidden"]
        self.half_window = st["local_attention"] // 2
        self.tok_embeddings = nn.Embedding(int(config["vocab_size"]), h)
        self.emb_norm = Norm(h, st["eps"], c["norm_bias"])
        self.layers = nn.ModuleList(Layer(c, i) for i in range(st["layers"]))
        self.final_norm = Norm(h, st["eps"], c["norm_bias"])
        n = min(int(config.get("max_position_embeddings", max_positions)), max_positions)
        for name, theta in (("global", st["global_rope_theta"]), ("local", st["local_rope_theta"])):
            cos, sin = ref.modernbert_rope(n, h // st["heads"], theta, torch.float32, True)
            self.register_buffer(name + "_cos", cos, persistent=False)
            self.register_buffer(name + "_sin", sin, persistent=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        # ModernBERT has no token types; 0 * token_type_ids keeps the ONNX graph input (int64, [B, S])
        input_ids = input_ids + token_type_ids * 0
        s = input_ids.shape[1]
        x = self.emb_norm(self.tok_embeddings(input_ids))
        pad = (attention_mask == 0)[:, None, None, :]  # [B, 1, 1, S] padded keys
        zero = torch.zeros((), dtype=x.dtype)
        neg = torch.full((), NEG, dtype=x.dtype)
        global_mask = torch.where(pad, neg, zero)  # broadcast over queries
        pos = torch.arange(s, device=input_ids.device)
        far = (pos[None, :] - pos[:, None]).abs() > self.half_window  # [S, S]
        local_mask = torch.where(pad | far[None, None], neg, zero)  # [B, 1, S, S]
        ropes = ((self.global_cos[:s], self.global_sin[:s]), (self.local_cos[:s], self.local_sin[:s]))
        for layer in self.layers:
            x = layer(x, global_mask, local_mask, ropes)
        return self.final_norm(x)


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    weights, _, _ = ref.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    m = ModernBertEncoder(config)
    names = {"tok_embeddings.weight": "embeddings.tok_embeddings.weight",
             "emb_norm.weight": "embeddings.norm.weight", "emb_norm.bias": "embeddings.norm.bias",
             "final_norm.weight": "final_norm.weight", "final_norm.bias": "final_norm.bias"}
    for i in range(len(m.layers)):
        for ours, hf in (("attn_norm", "attn_norm"), ("Wqkv", "attn.Wqkv"), ("Wo", "attn.Wo"),
                         ("mlp_norm", "mlp_norm"), ("Wi", "mlp.Wi"), ("Wo_mlp", "mlp.Wo")):
            for t in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{t}"] = f"layers.{i}.{hf}.{t}"
    state = {}
    for ours in m.state_dict():
        hf = names[ours]
        key = next((k for k in ("model." + hf, hf) if k in weights), None)
        if key is None:
            raise KeyError(f"{model_dir}: no weight for {hf}")
        state[ours] = torch.from_numpy(np.ascontiguousarray(weights[key], dtype=np.float32))
    m.load_state_dict(state, strict=True)
    return m.eval(), config, weights


# ------------------------------------------------------------------------------------------------
# inputs, numerics, export

def read_inputs(d):
    with open(os.path.join(d, "shape.json")) as f:
        sh = json.load(f)
    return {k: np.fromfile(os.path.join(d, k + ".i64"), dtype="<i8").reshape(sh["batch"], sh["seq"])
            for k in INPUT_NAMES}


def make_inputs(out, shapes, vocab, padded=False):
    cmd = [sys.executable, os.path.join(PEERS, "make_inputs.py"), "--out", out, "--shapes", shapes,
           "--vocab", str(vocab)] + (["--padded"] if padded else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


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


def check_and_export(model_dir, out_dir, check_inputs, check_shape, skip_export):
    """Returns a dict of the numerics results; writes out_dir/model.onnx."""
    t0 = time.time()
    m, config, weights = load_model(model_dir)
    feeds = read_inputs(os.path.join(check_inputs, "b{}_s{}".format(*check_shape)))
    with torch.inference_mode():
        ours = m(*(torch.from_numpy(feeds[k]) for k in INPUT_NAMES)).numpy()
    want = ref.forward(config, weights, feeds["input_ids"], feeds["attention_mask"],
                       feeds["token_type_ids"], dtype=torch.float64)["last_hidden_state"]
    real = feeds["attention_mask"].astype(bool)
    d = np.abs(ours.astype(np.float64) - want)
    res = {"model": model_dir, "check_shape": "{}x{}".format(*check_shape),
           "real_tokens": int(real.sum()), "padded_tokens": int((~real).sum()),
           "torch_vs_ref_max_abs_real": float(d[real].max()),
           "torch_vs_ref_max_abs_all": float(d.max()),
           "ref_max_abs": float(np.abs(want).max())}
    res["torch_vs_ref_ok"] = res["torch_vs_ref_max_abs_real"] < 1e-4
    onnx_path = os.path.join(out_dir, "model.onnx")
    if not skip_export:
        os.makedirs(out_dir, exist_ok=True)
        ex = {k: torch.from_numpy(feeds[k]) for k in INPUT_NAMES}
        axes = {k: {0: "batch", 1: "sequence"} for k in INPUT_NAMES}
        axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
        with torch.no_grad():
            torch.onnx.export(m, (ex["input_ids"], ex["attention_mask"], ex["token_type_ids"]), onnx_path,
                              input_names=list(INPUT_NAMES), output_names=["last_hidden_state"],
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
# torch timing worker (a separate process per (model, threads): OMP_* must be set before torch loads)

def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def torch_worker(a):
    torch.set_num_threads(a.threads)
    t0 = time.time()
    m, _, _ = load_model(a.model_dir)
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
                "engine": "torch", "variant": "fp32", "model": a.model_dir, "batch": b, "seq": s,
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


def run_torch(model_dir, inputs, shapes, threads, reps, policy):
    if policy == "auto":
        policy = "ACTIVE" if threads > 1 and machine_idle() else "PASSIVE"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=policy)
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--model-dir", model_dir,
           "--inputs", inputs, "--shapes", shapes, "--threads", str(threads), "--reps", str(reps),
           "--warmup", "2"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"torch worker failed ({p.returncode}): {p.stderr[-2000:]}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


# ------------------------------------------------------------------------------------------------

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+")
    ap.add_argument("--work", default="/tmp/mb/peers")
    ap.add_argument("--out", default=None, help="JSON lines (default WORK/results.jsonl)")
    ap.add_argument("--shapes", default="1x128,8x128,1x512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=10, help="timed runs per shape (ORT: >= reps, <= 2*reps, ~2 s)")
    ap.add_argument("--check-shape", default="2x160", help="padded numerics batch (seq > local window)")
    ap.add_argument("--omp-wait-policy", default="auto", help="torch: auto | PASSIVE | ACTIVE")
    ap.add_argument("--wait-quiet", type=float, default=30,
                    help="before each timing process, wait up to this many s for an idle machine")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--skip-export", action="store_true", help="reuse WORK/<name>/model.onnx")
    ap.add_argument("--sparq", help="the sparq binary: `sparq bench` timed in the same run, on every "
                                    "model and on the --sparq-only ones")
    ap.add_argument("--sparq-only", nargs="*", default=[],
                    help="model directories only sparq times (e.g. its int8 copies)")
    # internal: torch timing worker
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        a.threads = int(a.threads)
        return torch_worker(a)
    if not a.models:
        ap.error("--models is required")
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
        r = check_and_export(d, os.path.join(a.work, names[d]), check_inputs, (cb, cs), a.skip_export)
        r["model_name"] = names[d]
        checks.append(r)
        print("numerics {}: torch vs ref max|d| real {:.3g} (all {:.3g}, |ref| max {:.3g}); ORT vs torch max|d| "
              "{:.3g} (real {:.3g}); ORT vs ref real {:.3g}; {} {}".format(
                  names[d], r["torch_vs_ref_max_abs_real"], r["torch_vs_ref_max_abs_all"], r["ref_max_abs"],
                  r["ort_vs_torch_max_abs_all"], r["ort_vs_torch_max_abs_real"], r["ort_vs_ref_max_abs_real"],
                  "OK" if r["torch_vs_ref_ok"] and r["ort_vs_torch_ok"] else "FAILED",
                  f"(export {r['export_s']} s)" if "export_s" in r else ""), flush=True)
    if not all(r["torch_vs_ref_ok"] and r["ort_vs_torch_ok"] for r in checks):
        sys.exit("numerics check failed")
    with open(out, "w") as f:
        for r in checks:
            f.write(json.dumps(dict(r, kind="numerics")) + "\n")
    if a.no_timing:
        return

    # timing: one process per (engine, model, threads), looping over the shapes
    inputs = os.path.join(a.work, "inputs")
    make_inputs(inputs, a.shapes, vocab)
    rows = []
    t_start = time.time()
    for t in (int(x) for x in a.threads.split(",")):
        for d in a.models + (a.sparq_only if a.sparq else []):
            engines = ("ort", "torch") if d in a.models else ()
            for engine in engines + (("sparq",) if a.sparq else ()):
                quiet = wait_quiet(a.wait_quiet)
                t0 = time.time()
                if engine == "ort":
                    got = run_ort(os.path.join(a.work, names[d], "model.onnx"), inputs, a.shapes, t, a.reps)
                elif engine == "sparq":
                    got = run_sparq(a.sparq, d, a.shapes, t, a.reps)
                else:
                    got = run_torch(d, inputs, a.shapes, t, a.reps, a.omp_wait_policy)
                for r in got:
                    r["model_name"] = names[d]
                    r["kind"] = "timing"
                    r["quiet_at_start"] = quiet
                rows += got
                with open(out, "a") as f:
                    for r in got:
                        f.write(json.dumps(r) + "\n")
                print(f"  {engine} {names[d]} {t}T: {time.time() - t0:.0f} s"
                      f"{'' if quiet else ' (machine busy at start)'}", file=sys.stderr, flush=True)
    print(f"timing took {time.time() - t_start:.0f} s", file=sys.stderr)

    versions = sorted({f"{r['engine']} {r['version']}" for r in rows})
    print(f"\n{', '.join(versions)}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}; "
          f"ext_load > 0.2 (other processes' CPU, cores) flagged '!'")
    hdr = f"| {'engine':6} | {'model':6} | {'shape':6} | threads | {'median ms':>10} | {'p10-p90 ms':>17} | reps | ext_load |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    key = {s: i for i, s in enumerate(a.shapes.split(","))}
    for r in sorted(rows, key=lambda r: (key[f"{r['batch']}x{r['seq']}"], r["threads"], r["model_name"], r["engine"])):
        flag = "!" if r.get("ext_load", 0) > 0.2 else " "
        shape = f"{r['batch']}x{r['seq']}"
        spread = f"{r['p10_ms']:.1f}-{r['p90_ms']:.1f}"
        print(f"| {r['engine']:6} | {r['model_name']:6} | {shape:6} | {r['threads']:7} | {r['median_ms']:10.1f} | "
              f"{spread:>17} | {r['reps']:4} | {r.get('ext_load', 0):7.2f}{flag} |")
    print(f"\nJSON lines: {out}")


if __name__ == "__main__":
    main()
