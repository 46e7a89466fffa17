"""Device run for the CUDA backend: build every generated kernel, check it against SDPA with the
dense boolean mask from compiler/reference.ts, and benchmark it against cuDNN / flash SDPA (full
attention) and FlexAttention with the identical block mask, all in one process on one card.

Inputs: .gen/cuda/ written by `node dist/bench/cuda/cases.js` (this machine has no Node).
    PYTHONUNBUFFERED=1 OUT=/tmp/out python3 bench/cuda/run.py [build] [check] [bench]
Writes $OUT/cuda_bench.json (card, date, versions, every number) and prints tables last.
On a compute-capability-9.0 card (H100/H200) every phase runs both kernels of a case, the portable
sm_80 one and the Hopper sm_90a one (`arch` in each row); ARCHS=sm90a (or sm80) restricts that.
SELECT=a,b keeps the cases whose names contain a or b (CHECKS=all keeps every check case too).
"""
import concurrent.futures as cf
import datetime
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = ".gen/cuda"
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
PHASES = set(sys.argv[1:]) or {"build", "check", "bench"}
MANIFEST = json.load(open(os.path.join(ROOT, "manifest.json")))
SELECT = os.environ.get("SELECT")  # substring filter on case names
if SELECT:
    MANIFEST = [c for c in MANIFEST if (c["kind"] == "check" and os.environ.get("CHECKS") == "all") or any(s in c["name"] for s in SELECT.split(","))]
dev = "cuda"
results = {"card": torch.cuda.get_device_name(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "versions": {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()},
           "build": [], "check": [], "bench": []}
try:
    import triton
    results["versions"]["triton"] = triton.__version__
except Exception:
    pass
results["versions"]["nvcc"] = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]


def save():
    json.dump(results, open(os.path.join(OUT, os.environ.get("RESULTS", "cuda_bench.json")), "w"), indent=1)


CAP = torch.cuda.get_device_capability()
ARCHS_ENV = os.environ.get("ARCHS")  # e.g. "sm90a" to run only the Hopper kernel


def archs_of(m):
    """Kernels to build/check/time on this card: sm80 always, sm90a on a 9.0 card when emitted."""
    a = ["sm80"] + (["sm90a"] if getattr(m, "SM90A", False) and CAP == (9, 0) else [])
    return [x for x in a if not ARCHS_ENV or x in ARCHS_ENV.split(",")]


def module_of(c):
    """Imports a case's generated loader under a unique name (many share a module name)."""
    path = os.path.join(c["dir"], c["module"] + ".py")
    spec = importlib.util.spec_from_file_location(c["name"], path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


# ---------------- build: every kernel, in parallel processes ----------------
def build_all(cases):
    def one(c):
        t0 = time.time()
        code = (f"import importlib.util as u, os; s = u.spec_from_file_location('m', {os.path.join(c['dir'], c['module'] + '.py')!r}); m = u.module_from_spec(s); s.loader.exec_module(m); "
                f"cap = __import__('torch').cuda.get_device_capability(); archs = ['sm80'] + (['sm90a'] if getattr(m, 'SM90A', False) and cap == (9, 0) else []); "
                f"env = os.environ.get('ARCHS'); [m.load_library(verbose=True, arch=a) for a in archs if not env or a in env.split(',')]")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, MAX_JOBS="1"))
        log = r.stdout + r.stderr
        spills = [l.strip() for l in log.splitlines() if "spill" in l.lower() or "lmem" in l.lower() or "stack frame" in l.lower()]
        return dict(name=c["name"], ok=r.returncode == 0, seconds=round(time.time() - t0, 1), warnings=spills[:6], log=None if r.returncode == 0 else log[-4000:])
    with cf.ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 4)) as ex:
        for b in ex.map(one, cases):
            results["build"].append(b)
            print(f"build {b['name']}: {'ok' if b['ok'] else 'FAILED'} {b['seconds']}s {b['warnings'] or ''}")
            if not b["ok"]:
                print(b["log"])
    save()


# ---------------- check: against SDPA with the dense mask, fp32 reference ----------------
def rel(a, b):
    return (torch.linalg.vector_norm((a.float() - b.float()).flatten()) / torch.linalg.vector_norm(b.float().flatten()).clamp_min(1e-30)).item()


def check_case(c):
    m = module_of(c)
    for arch in archs_of(m):
        check_case_arch(c, m, arch)


def check_case_arch(c, m, arch):
    N, D, scale = c["tokens"], c["headDim"], c["scale"]
    B, H = 2, 3
    for valid in c["valids"]:
        bits = np.fromfile(os.path.join(c["dir"], f"mask_v{valid}.bin"), dtype=np.uint8)
        mask = torch.from_numpy(np.unpackbits(bits)[: N * N].reshape(N, N).astype(bool)).to(dev)
        empty_rows = ~mask.any(-1)
        for dtype in (torch.bfloat16, torch.float16):
            for layout in ("bhnd", "bnhd", "view"):
                # fresh inputs every time; "view": bhnd views of one packed [B, N, 3, H, D] qkv tensor
                if layout == "view":
                    qkv = torch.randn(B, N, 3, H, D, device=dev, dtype=dtype)
                    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
                    q_in, k_in, v_in, lay = q, k, v, "bhnd"
                else:
                    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=dtype) for _ in range(3))
                    if layout == "bnhd":
                        q_in, k_in, v_in = (x.transpose(1, 2).contiguous() for x in (q, k, v))
                    else:
                        q_in, k_in, v_in = q, k, v
                    lay = layout
                out = torch.full(q_in.shape, float("nan"), device=dev, dtype=dtype)  # poisoned
                o, lse = m.attention(q_in, k_in, v_in, text_valid=valid, layout=lay, return_lse=True, out=out, arch=arch)
                torch.cuda.synchronize()
                if lay == "bnhd":
                    o = o.transpose(1, 2)
                q32, k32, v32 = q.float(), k.float(), v.float()
                ref = F.scaled_dot_product_attention(q32, k32, v32, attn_mask=mask, scale=scale)
                ref = ref.masked_fill(empty_rows[None, None, :, None], 0.0)  # SDPA gives NaN there; ours defines 0
                s = (q32 @ k32.transpose(-1, -2)) * scale
                lse_ref = s.masked_fill(~mask, float("-inf")).logsumexp(-1)
                unwritten = int(torch.isnan(o).sum().item())
                err = rel(o, ref) if unwritten == 0 else float("nan")
                fin = torch.isfinite(lse_ref)
                lse_err = (lse[..., fin] - lse_ref[..., fin]).abs().max().item() if fin.any() else 0.0
                lse_inf_ok = bool(torch.all(torch.isneginf(lse[..., ~fin])).item()) if (~fin).any() else True
                tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
                ok = unwritten == 0 and err < tol and lse_err < 2e-2 and lse_inf_ok
                row = dict(case=c["name"], arch=arch, grid=c["grid"], text=c["text"], valid=valid, dtype=str(dtype).split(".")[-1], layout=layout,
                           rel_err=err, tol=tol, lse_max_abs_err=lse_err, lse_empty_rows_ok=lse_inf_ok, unwritten=unwritten,
                           empty_rows=int(empty_rows.sum().item()), ok=ok)
                results["check"].append(row)
                print(f"check {c['name']:32s} {arch:5s} valid={valid:4d} {row['dtype']:8s} {layout:5s} rel_err={err:.2e} lse={lse_err:.1e} {'ok' if ok else 'FAIL'}")
        del mask
    torch.cuda.empty_cache()


# ---------------- bench ----------------
def timeit(fn, budget_ms=600.0, max_reps=100, min_reps=3):
    """Median of event-timed calls after a warm-up; the count fits a time budget."""
    fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); fn(); e.record(); e.synchronize()
    est = s.elapsed_time(e)
    reps = int(max(min_reps, min(max_reps, budget_ms / max(est, 1e-3))))
    ts = []
    for _ in range(reps):
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)


def flex_block_mask(c, N):
    """The pattern's mask as a FlexAttention mask_mod (grouped order, all text valid)."""
    from torch.nn.attention.flex_attention import create_block_mask
    grid, group, text, place = c["grid"], c["group"], c["text"], c["textPlace"]
    ng = [s // g for s, g in zip(grid, group)]
    G = math.prod(group)
    M = math.prod(grid)
    off = text if place == "before" else 0
    kind = c["pattern"]

    def coords(g):
        out = []
        for n in reversed(ng):
            out.append(g % n)
            g = g // n
        return out[::-1]

    def mod(b, h, qi, ki):
        q_img = (qi >= off) & (qi < off + M)
        k_img = (ki >= off) & (ki < off + M)
        qc, kc = coords((qi - off) // G), coords((ki - off) // G)
        if kind == "grat_b":
            img = (qc[0] - kc[0]).abs() <= 1
            for a in range(1, len(qc)):
                img = img & ((qc[a] - kc[a]).abs() <= 1)
        else:
            img = qc[0] == kc[0]
            for a in range(1, len(qc)):
                img = img | (qc[a] == kc[a])
        return (q_img & k_img & img) | (q_img & ~k_img) | ~q_img

    return create_block_mask(mod, B=None, H=None, Q_LEN=N, KV_LEN=N, device=dev, _compile=True)


def bench_all(cases):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import flex_attention
    import torch._dynamo
    torch._dynamo.config.recompile_limit = 64  # one compile per shape; past the default 8 Flex falls back to eager
    flex = torch.compile(flex_attention, dynamic=False)
    heads = 24
    shapes = []
    for c in cases:
        if c["shape"] not in shapes:
            shapes.append(c["shape"])
    for shape in shapes:
        group = [c for c in cases if c["shape"] == shape]
        N, D = group[0]["tokens"], group[0]["headDim"]
        torch.manual_seed(0)
        q, k, v = (torch.randn(1, heads, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        full_flops = 4.0 * N * N * D * heads
        row0 = dict(shape=shape, tokens=N, heads=heads, head_dim=D)
        big = N > 200_000
        try:
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                t_cudnn = timeit(lambda: F.scaled_dot_product_attention(q, k, v), max_reps=3 if big else 100)
        except Exception as ex:
            print("cudnn failed:", ex)
            t_cudnn = float("nan")
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            t_flash = timeit(lambda: F.scaled_dot_product_attention(q, k, v), max_reps=2 if big else 100, min_reps=2)
        row0.update(cudnn_ms=t_cudnn, flash_ms=t_flash, cudnn_tflops=full_flops / t_cudnn / 1e9, flash_tflops=full_flops / t_flash / 1e9)
        print(f"{shape}: cuDNN {t_cudnn:.2f} ms, flash {t_flash:.2f} ms")
        for pattern in ("grat_b", "grat_x"):
            pcases = [c for c in group if c["pattern"] == pattern]
            if not pcases:
                continue
            c0 = pcases[0]
            flops = c0["flopsPerHead"] * heads
            row = dict(row0, pattern=pattern, density=c0["density"], flops=flops)
            # FlexAttention: mask built once (timed), kernel compiled on the first call (timed), then timed
            try:
                torch.cuda.synchronize(); t0 = time.time()
                bm = flex_block_mask(c0, N)
                torch.cuda.synchronize(); row["flex_mask_build_s"] = time.time() - t0
                row["flex_block_density"] = 1 - bm.sparsity() / 100
                t0 = time.time()
                ref = flex(q, k, v, block_mask=bm)
                torch.cuda.synchronize(); row["flex_first_call_s"] = time.time() - t0
                row["flex_ms"] = timeit(lambda: flex(q, k, v, block_mask=bm))
                row["flex_tflops"] = flops / row["flex_ms"] / 1e9
            except Exception as ex:
                print("flex failed:", repr(ex)[:400])
                ref, bm = None, None
            print(f"{shape} {pattern}: flex {row.get('flex_ms', float('nan')):.3f} ms (mask {row.get('flex_mask_build_s', float('nan')):.2f} s, first call {row.get('flex_first_call_s', float('nan')):.2f} s)")
            out = torch.empty_like(q)
            for c in pcases:
              m = module_of(c)
              for arch in archs_of(m):
                m.load_library(arch=arch)
                torch.cuda.synchronize(); t0 = time.time()
                m.attention(q, k, v, out=out, arch=arch)
                torch.cuda.synchronize()
                first = time.time() - t0
                ms = timeit(lambda: m.attention(q, k, v, out=out, arch=arch))
                r = dict(row, arch=arch, order=c["order"], variant=c["variant"], tiling=c["tiling"], ours_ms=ms, ours_first_call_s=first,
                         ours_tflops=flops / ms / 1e9, speedup_vs_cudnn=t_cudnn / ms, speedup_vs_flash=t_flash / ms)
                if "flex_ms" in row:
                    r["ours_over_flex"] = row["flex_ms"] / ms
                if ref is not None and c["order"] == "grouped":
                    r["rel_err_vs_flex"] = rel(out, ref)
                results["bench"].append(r)
                print(f"  ours {arch:5s} {c['name']:44s} {ms:8.3f} ms {r['ours_tflops']:6.1f} TF/s  flex/ours {r.get('ours_over_flex', float('nan')):.2f}  "
                      f"cudnn/ours {r['speedup_vs_cudnn']:.1f}  err_vs_flex {r.get('rel_err_vs_flex', float('nan')):.1e}")
                save()
            del ref, bm, out
            torch.cuda.empty_cache()
        if not any(b["shape"] == shape for b in results["bench"]):
            results["bench"].append(row0)
        del q, k, v
        torch.cuda.empty_cache()
        save()


def main():
    cases = MANIFEST
    if "build" in PHASES:
        build_all(cases)
    built = {b["name"] for b in results["build"] if b["ok"]} if results["build"] else {c["name"] for c in cases}
    if "check" in PHASES:
        for c in cases:
            if c["kind"] == "check" and c["name"] in built:
                try:
                    check_case(c)
                except Exception as ex:
                    print(f"check {c['name']} raised {ex!r}")
                    results["check"].append(dict(case=c["name"], ok=False, error=repr(ex)[:500]))
        save()
    if "bench" in PHASES:
        bench_all([c for c in cases if c["kind"] == "bench" and c["name"] in built])
    save()
    # summary
    chk = results["check"]
    print(f"\nchecks: {sum(r['ok'] for r in chk)}/{len(chk)} ok; worst bf16 {max([r['rel_err'] for r in chk if r.get('dtype') == 'bfloat16'] or [0]):.2e}, "
          f"worst fp16 {max([r['rel_err'] for r in chk if r.get('dtype') == 'float16'] or [0]):.2e}")
    for r in chk:
        if not r["ok"]:
            print("FAIL", r)
    print(f"{'shape':14s} {'pattern':7s} {'order':8s} {'arch':5s} {'variant':12s} {'ours_ms':>8s} {'flex_ms':>8s} {'cudnn_ms':>9s} {'TF/s':>6s} {'flexTF':>6s} {'flex/ours':>9s}")
    for r in results["bench"]:
        if "ours_ms" in r:
            print(f"{r['shape']:14s} {r['pattern']:7s} {r['order']:8s} {r.get('arch', 'sm80'):5s} {r['variant']:12s} {r['ours_ms']:8.3f} {r.get('flex_ms', float('nan')):8.3f} {r['cudnn_ms']:9.2f} "
                  f"{r['ours_tflops']:6.1f} {r.get('flex_tflops', float('nan')):6.1f} {r.get('ours_over_flex', float('nan')):9.2f}")


if __name__ == "__main__":
    main()
