"""Device check and bench of the backward pass (issue 21), one process, one card, < 600 s.

Inputs: .gen/cuda_bwd/ written by `npx tsx bench/cuda/backward_cases.ts` (this machine has no Node):
packages compiled with run-time sizes, dense masks of compiler/reference.ts, manifest.json.
    PYTHONUNBUFFERED=1 OUT=/tmp/out python3 bench/cuda/backward_check.py [build] [check] [bench] [sanitize]
(no phase named: build, check, bench; `sanitize` only when named, after `build` on the same machine)
Writes $OUT/backward_check.json; prints one line per check and per bench case, then a verdict.

build  each package's sm_80 library (forward + backward kernels) and, on a compute-capability-9.0
       card, its sm_90a library (the forward attention() runs there; its lse feeds the sm_80
       backward in the autograd checks), in parallel processes
check  per case (ragged grids, 2-D raster/grouped, 3-D, a predicate with shift borders, text
       before/after, head_dim 128/64, bf16/fp16, both layouts), with one text_valid for all and a
       per-sample text_valid tensor (one sample 0): fresh random q, k, v, dO with spiky keys; the
       forward's o and lse, then KERNEL_backward into gradient buffers filled with NaN; dq, dk, dv
       against float64 autograd of attention with the dense mask; the same launch again must give
       the same bits (deterministic); then attention() with autograd (this card's forward). And
       PyTorch's own bf16 SDPA backward (flash/cuDNN) against float64 on the same inputs as a dense
       problem: the bar is our max and mean relative error <= 2x PyTorch's, per gradient.
bench  Flux 4096² (256x256 latent, 512 text tokens, 24 heads, head_dim 128) GRAT-B and GRAT-X in
       grouped order: our backward (the three kernels; forward's o and lse given) against
       FlexAttention's backward with the identical block mask (torch.autograd.grad of a compiled
       flex_attention output), interleaved rounds, medians; TFLOP/s with backward = 2.5x the
       forward's 4 * head_dim FLOPs per visible pair; also forward + backward through autograd.
sanitize  compute-sanitizer memcheck and racecheck on one forward + backward of two small ragged
       cases (per-sample text_valid with a 0): exit code and the tools' summaries.
GRAT_CUDA_BWD_ARCH=sm90a (issue 21): every backward launch above (check, bench, autograd) runs the
sm_90a library's wgmma backward KERNEL_sm90a_backward instead (_build.backward_arch); the results
record which. The autograd checks run the exact sm_90a forward (KERNEL_sm90a_exact_forward) on a
compute-capability-9.0 card either way: its dq/dk error ratio is the one the exact forward fixes.
"""
import concurrent.futures as cf
import json
import math
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gratmod  # noqa: E402
import maskfile  # noqa: E402  (bench/cuda/maskfile.py: the cases' mask files)
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import provenance  # noqa: E402  (bench/provenance.py: card, date, versions)

T0 = time.time()
ROOT = ".gen/cuda_bwd"
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
PHASES = set(sys.argv[1:]) or {"build", "check", "bench"}
MAN = json.load(open(os.path.join(ROOT, "manifest.json")))
dev = "cuda"
CAP = torch.cuda.get_device_capability()
results = {**provenance.header(), "build": [], "check": [], "bench": [], "bwd_arch": os.environ.get("GRAT_CUDA_BWD_ARCH", "sm80")}


def elapsed():
    return f"{time.time() - T0:6.1f} s"


def save():
    json.dump(results, open(os.path.join(OUT, "backward_check.json"), "w"), indent=1)


def packages():
    seen = {}
    for c in MAN["checks"] + MAN["bench"]:
        seen.setdefault(c["pkg"], c)
    return list(seen.values())


def build_all():
    pk = packages()
    jobs = [(c, "sm80") for c in pk] + ([(c, "sm90a") for c in pk] if CAP == (9, 0) else [])

    def one(job):
        c, arch = job
        t = time.time()
        code = f"{gratmod.load_code(c['dir'], c['module'])}; m.load_library(verbose=True, arch={arch!r}) if {arch!r} == 'sm80' or m.SM90A else None"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, MAX_JOBS="1"))
        log = r.stdout + r.stderr
        # ptxas's -warn-spills / -warn-lmem-usage warnings (the build's flags); not the command lines that pass them
        spills = sorted({l.strip() for l in log.splitlines() if "ptxas" in l and "warning" in l and ("spill" in l or "local memory" in l or "lmem" in l)})
        return dict(pkg=c["pkg"], arch=arch, ok=r.returncode == 0, seconds=round(time.time() - t, 1), spills=spills[:6], log=None if r.returncode == 0 else log[-3000:])

    with cf.ThreadPoolExecutor(len(jobs)) as ex:
        for b in ex.map(one, jobs):
            results["build"].append(b)
            print(f"[{elapsed()}] build {b['pkg']:18s} {b['arch']:5s} {'ok' if b['ok'] else 'FAILED'} {b['seconds']} s {'spills: ' + '; '.join(b['spills']) if b['spills'] else ''}")
            if b["log"]:
                print(b["log"])
    save()


MODS = {}


def module(c):
    if c["pkg"] not in MODS:
        MODS[c["pkg"]] = gratmod.load(c["dir"], c["module"], "bwd_" + c["pkg"])
    return MODS[c["pkg"]]


def mask(c, valid):
    return maskfile.load_mask(os.path.join(c["masks"], f"{'x'.join(map(str, c['grid']))}_t{c['text']}_v{valid}.bin"), c["tokens"], dev)


def reference(q, k, v, d_out, masks, scale):
    """float64 autograd of attention with per-sample masks ([N, N] bool each; None: dense) on [B, H, N, D]
    tensors; rows that see no key output 0 and give no gradient."""
    qd, kd, vd = (x.detach().double().requires_grad_(True) for x in (q, k, v))
    s = (qd @ kd.transpose(-1, -2)) * scale
    if masks is not None:
        m = torch.stack(masks)[:, None]
        has = m.any(-1, keepdim=True)
        s = s.masked_fill(~m, -math.inf).masked_fill(~has, 0.0)
        p = torch.softmax(s, -1) * has
    else:
        p = torch.softmax(s, -1)
    o = p @ vd
    return torch.autograd.grad(o, (qd, kd, vd), d_out.double())


def rel(g, r):
    """max |g − r| / max |r| and mean |g − r| / mean |r|; the denominators at least 1e-2 and 1e-3, so a
    gradient that is 0 in exact arithmetic (a row that sees one key: dS = P (dP − dO·O) = 0) does not
    turn rounding into a huge relative error."""
    d = (g.double() - r).abs()
    return {"max": (d.max() / r.abs().max().clamp_min(1e-2)).item(), "mean": (d.mean() / r.abs().mean().clamp_min(1e-3)).item(),
            "nan": int((~torch.isfinite(g)).sum().item())}


def inputs(shape, dtype, seed, bnhd):
    gen = torch.Generator(device=dev).manual_seed(seed)
    q, k, v, d_out = (torch.randn(shape, generator=gen, device=dev, dtype=torch.float32) for _ in range(4))
    n_axis = 1 if bnhd else 2
    spikes = torch.rand(shape[n_axis], generator=gen, device=dev) < 0.01  # a few keys with large norms
    k = k * torch.where(spikes, 8.0, 1.0).view([-1 if i == n_axis else 1 for i in range(4)])
    return [x.to(dtype) for x in (q, k, v, d_out)]


def check_one(c, dtype, bnhd, per_sample, seed):
    m = module(c)
    B, H, N, D = 2, 3, c["tokens"], c["headDim"]
    shape = (B, N, H, D) if bnhd else (B, H, N, D)
    q, k, v, d_out = inputs(shape, dtype, seed, bnhd)
    view = (lambda x: x.transpose(1, 2)) if bnhd else (lambda x: x)
    T = c["text"]
    valids = c["valid"]["perSample"] if per_sample else [c["valid"]["all"]] * B
    tv = torch.tensor(valids, dtype=torch.int32, device=dev) if per_sample else None
    sizes = [*c["grid"], T]
    layout = "bnhd" if bnhd else "bhnd"
    kw = dict(grid=tuple(c["grid"]), text_count=T, layout=layout)
    o, lse = m.attention(q, k, v, text_valid=tv if per_sample else valids[0], return_lse=True, arch="sm80", **kw)
    grads = []
    for _ in range(2):
        g = [torch.full_like(x, float("nan")) for x in (q, k, v)]  # poisoned: every element must be written
        ws = torch.empty(2 * B * H * N, dtype=torch.float32, device=dev)
        m._build.launch_backward(d_out, q, k, v, o, lse, None, *g, sizes, tv, valids[0], c["scale"], bnhd, ws)
        grads.append(g)
    torch.cuda.synchronize()
    same = all(torch.equal(a, b) for a, b in zip(*grads))
    want = reference(view(q), view(k), view(v), view(d_out), [mask(c, n) for n in valids], c["scale"])
    ours = {n: rel(view(g), w) for n, g, w in zip(("dq", "dk", "dv"), grads[0], want)}
    # autograd through attention() with this card's forward (sm90a on H100 where built)
    qa, ka, va = (x.clone().requires_grad_(True) for x in (q, k, v))
    oa = m.attention(qa, ka, va, text_valid=tv if per_sample else valids[0], **kw)
    oa.backward(d_out)
    auto = {n: rel(view(x.grad), w) for n, x, w in zip(("dq", "dk", "dv"), (qa, ka, va), want)}
    # PyTorch's bf16/fp16 SDPA backward on the same inputs as a dense problem, against float64
    qs, ks, vs = (view(x).clone().requires_grad_(True) for x in (q, k, v))
    F.scaled_dot_product_attention(qs, ks, vs, scale=c["scale"]).backward(view(d_out))
    dense_want = reference(view(q), view(k), view(v), view(d_out), None, c["scale"])
    torch_err = {n: rel(x.grad, w) for n, x, w in zip(("dq", "dk", "dv"), (qs, ks, vs), dense_want)}
    ok = same and all(ours[n]["nan"] == 0 and auto[n]["nan"] == 0 for n in ours)
    # (PyTorch's error can be exactly 0 on a degenerate problem, e.g. one token: compared from 1e-4 up)
    ratio = {n: max(ours[n]["max"] / max(torch_err[n]["max"], 1e-4), ours[n]["mean"] / max(torch_err[n]["mean"], 1e-4)) for n in ours}
    ok = ok and all(r <= 2.0 for r in ratio.values()) and all(auto[n]["max"] <= 2 * max(torch_err[n]["max"], 1e-4) for n in auto)
    row = dict(name=c["name"], dtype=str(dtype).replace("torch.", ""), layout=layout, valid=valids, deterministic=same, ours=ours, autograd=auto,
               torch_dense=torch_err, ratio=ratio, ok=ok)
    results["check"].append(row)
    fmt = lambda e: " ".join(f"{n} {e[n]['max']:.1e}/{e[n]['mean']:.1e}" for n in ("dq", "dk", "dv"))  # noqa: E731
    print(f"[{elapsed()}] {'ok  ' if ok else 'FAIL'} {c['name']:28s} {row['dtype']:8s} {layout} valid={valids}: ours(max/mean) {fmt(ours)} | "
          f"torch dense {fmt(torch_err)} | worst ratio {max(ratio.values()):.2f} | autograd {fmt(auto)} | deterministic {same}")
    return ok


def check_all():
    i = 0
    for c in MAN["checks"]:
        for dtype in c["dtypes"]:
            for per_sample in (False, True):
                check_one(c, getattr(torch, dtype), bnhd=i % 2 == 1, per_sample=per_sample, seed=1000 + i)
                i += 1
    save()


def flex_mask(b):
    """The pattern in grouped order as a FlexAttention mask_mod: text first, every text token valid."""
    from torch.nn.attention.flex_attention import create_block_mask
    off = b["text"] if b["textPlace"] == "before" else 0
    G = math.prod(b["group"])
    nw = b["grid"][1] // b["group"][1]
    M = math.prod(b["grid"])
    grat_b = b["pattern"] == "grat_b"

    def mod(bi, hi, qi, ki):
        q_img = (qi >= off) & (qi < off + M)
        k_img = (ki >= off) & (ki < off + M)
        qg, kg = (qi - off) // G, (ki - off) // G
        qy, qx, ky, kx = qg // nw, qg % nw, kg // nw, kg % nw
        img = (((qy - ky).abs() <= 1) & ((qx - kx).abs() <= 1)) if grat_b else ((qy == ky) | (qx == kx))
        return (q_img & k_img & img) | (q_img & ~k_img) | ~q_img

    N = b["tokens"]
    return create_block_mask(mod, B=None, H=None, Q_LEN=N, KV_LEN=N, device=dev, _compile=True)


def time_rounds(fns, rounds=6, reps=4):
    """Median ms per call of each fn: rounds of `reps` calls each, the order alternating per round."""
    ev = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(reps):
                fns[k]()
            e.record()
            torch.cuda.synchronize()
            ev[k].append(s.elapsed_time(e) / reps)
    return {k: statistics.median(v) for k, v in ev.items()}


def bench_all():
    from torch.nn.attention.flex_attention import flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    for b in MAN["bench"]:
        if time.time() - T0 > 480:
            print(f"[{elapsed()}] skip {b['name']}: out of time")
            continue
        m = module(b)
        B, H, N, D = 1, 24, b["tokens"], b["headDim"]
        q, k, v, d_out = inputs((B, H, N, D), torch.bfloat16, 7, False)
        sizes = [*b["grid"], b["text"]]
        kw = dict(grid=tuple(b["grid"]), text_count=b["text"])
        o, lse = m.attention(q, k, v, return_lse=True, arch="sm80", **kw)
        g = [torch.empty_like(x) for x in (q, k, v)]
        ws = torch.empty(2 * B * H * N, dtype=torch.float32, device=dev)

        def ours():
            m._build.launch_backward(d_out, q, k, v, o, lse, None, *g, sizes, None, b["text"], b["scale"], False, ws)

        qa, ka, va = (x.clone().requires_grad_(True) for x in (q, k, v))

        def ours_train():
            return torch.autograd.grad(m.attention(qa, ka, va, **kw), (qa, ka, va), d_out)

        row = dict(name=b["name"], pattern=b["pattern"], tokens=N, heads=H, density=b["density"], visible_pairs=b["visiblePairs"])
        fns = {"ours_bwd": ours, "ours_fwd_bwd": ours_train}
        try:
            t = time.time()
            bm = flex_mask(b)
            qf, kf, vf = (x.clone().requires_grad_(True) for x in (q, k, v))
            of = flex(qf, kf, vf, block_mask=bm, scale=b["scale"])
            flex_grads = torch.autograd.grad(of, (qf, kf, vf), d_out, retain_graph=True)
            torch.cuda.synchronize()
            row["flex_compile_s"] = round(time.time() - t, 1)
            row["flex_block_density"] = 1 - bm.sparsity() / 100
            fns["flex_bwd"] = lambda: torch.autograd.grad(of, (qf, kf, vf), d_out, retain_graph=True)
            fns["flex_fwd_bwd"] = lambda: torch.autograd.grad(flex(qf, kf, vf, block_mask=bm, scale=b["scale"]), (qf, kf, vf), d_out)
        except Exception as ex:  # noqa: BLE001
            print(f"flex failed: {ex!r}"[:400])
            flex_grads = None
        ours()
        ours_train()
        torch.cuda.synchronize()
        if flex_grads is not None:
            row["ours_vs_flex"] = {n: rel(x, y.double()) for n, x, y in zip(("dq", "dk", "dv"), g, flex_grads)}
        ms = time_rounds(fns)
        flops_fwd = 4 * D * b["visiblePairs"] * B * H
        for kname, t_ms in ms.items():
            row[kname + "_ms"] = t_ms
            row[kname + "_tflops"] = (2.5 if kname.endswith("_bwd") and "fwd" not in kname else 3.5) * flops_fwd / t_ms / 1e9
        if "flex_bwd" in ms:
            row["bwd_speedup_vs_flex"] = ms["flex_bwd"] / ms["ours_bwd"]
            row["fwd_bwd_speedup_vs_flex"] = ms["flex_fwd_bwd"] / ms["ours_fwd_bwd"]
        results["bench"].append(row)
        print(f"[{elapsed()}] {b['name']}: ours bwd {ms['ours_bwd']:.2f} ms {row['ours_bwd_tflops']:.0f} TF/s | flex bwd {ms.get('flex_bwd', float('nan')):.2f} ms "
              f"{row.get('flex_bwd_tflops', float('nan')):.0f} TF/s | ours/flex speedup {row.get('bwd_speedup_vs_flex', float('nan')):.2f} | fwd+bwd ours "
              f"{ms['ours_fwd_bwd']:.2f} ms flex {ms.get('flex_fwd_bwd', float('nan')):.2f} ms | grads vs flex max "
              f"{max(e['max'] for e in row['ours_vs_flex'].values()) if 'ours_vs_flex' in row else float('nan'):.1e}")
        save()


SANITIZE_CASES = ("pred64_13x22_t7", "flux_b_grouped_16x16_t512")


def one_launch(name):
    """(child of `sanitize`) one forward and one backward of a check case, per-sample text_valid, ragged grid."""
    c = next(x for x in MAN["checks"] if x["name"] == name)
    m = module(c)
    B, H, N, D = 2, 2, c["tokens"], c["headDim"]
    q, k, v, d_out = inputs((B, H, N, D), torch.bfloat16, 5, False)
    tv = torch.tensor(c["valid"]["perSample"], dtype=torch.int32, device=dev)
    o, lse = m.attention(q, k, v, text_valid=tv, grid=tuple(c["grid"]), text_count=c["text"], return_lse=True, arch="sm80")
    g = [torch.full_like(x, float("nan")) for x in (q, k, v)]
    ws = torch.empty(2 * B * H * N, dtype=torch.float32, device=dev)
    m._build.launch_backward(d_out, q, k, v, o, lse, None, *g, [*c["grid"], c["text"]], tv, 0, c["scale"], False, ws)
    torch.cuda.synchronize()
    print("launched", name, "nan:", sum(int(torch.isnan(x).sum()) for x in g))


def sanitize():
    """compute-sanitizer memcheck and racecheck on one launch of small ragged cases (libraries from `build`)."""
    for tool in ("memcheck", "racecheck"):
        for name in SANITIZE_CASES:
            t = time.time()
            r = subprocess.run(["compute-sanitizer", "--tool", tool, "--error-exitcode", "9", sys.executable, os.path.abspath(__file__), "_one", name],
                               capture_output=True, text=True, env=dict(os.environ, PYTORCH_NO_CUDA_MEMORY_CACHING="1"))
            summary = [l for l in (r.stdout + r.stderr).splitlines() if "SUMMARY" in l or l.startswith("launched")]
            row = dict(tool=tool, case=name, rc=r.returncode, seconds=round(time.time() - t, 1), summary=summary, ok=r.returncode == 0)
            results.setdefault("sanitize", []).append(row)
            print(f"[{elapsed()}] {tool:9s} {name:28s} rc {r.returncode} {' | '.join(summary)}")
            if r.returncode != 0:
                print((r.stdout + r.stderr)[-3000:])
    save()


if __name__ == "__main__":
    if sys.argv[1:2] == ["_one"]:
        one_launch(sys.argv[2])
        sys.exit(0)
    print(f"{results['card']}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    if "build" in PHASES:
        build_all()
    if "check" in PHASES:
        check_all()
    if "bench" in PHASES:
        bench_all()
    if "sanitize" in PHASES:
        sanitize()
    save()
    bad = [r["name"] for r in results["check"] if not r["ok"]] + [f"{b['pkg']} {b['arch']}" for b in results["build"] if not b["ok"] or b["spills"]]
    bad += [f"{r['tool']} {r['case']}" for r in results.get("sanitize", []) if not r["ok"]]
    print(f"[{elapsed()}] {'ALL OK' if not bad else 'FAILED: ' + ', '.join(bad)}; results in {os.path.join(OUT, 'backward_check.json')}")
    sys.exit(1 if bad else 0)
