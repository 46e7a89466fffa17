"""Multi-GPU run of the CUDA backend's PyTorch plug (ulysses_attention / spatial_attention).

    python3 bench/cuda/parallel.py build                          # build the kernels once (one process)
    torchrun --nproc-per-node P bench/cuda/parallel.py check      # P = 2 or 4
    torchrun --nproc-per-node P bench/cuda/parallel.py bench      # P = 1, 2 or 4
    torchrun --nproc-per-node 4 bench/cuda/parallel.py profile    # a kernel timeline per rank (torch.profiler)

check: every `parallel` case of .gen/cuda/manifest.json (node dist/bench/cuda/cases.js), fresh random
  inputs, both layouts, text_valid 0 / 77 / all, bf16 (fp16 for fp16 patterns), B = 2, H = 4:
  each rank's output rows must equal the single-GPU kernel's rows within bf16 tolerance and the
  fp32 SDPA reference with the dense mask of compiler/reference.ts; every scratch buffer and the
  output are poisoned with NaN first, so a K/V row that was not received, or an output row that
  was not written, shows up. Also the plug in parallel mode.
bench: Flux 8192² and HunyuanVideo 720p (GRAT-B, GRAT-X), B = 1, H = 24, d = 128, bf16: time per
  attention call (max over ranks, CUDA events), bytes sent per rank, scaling efficiency
  t1 / (P * tP) against the single-GPU kernel of the same run.
Writes $OUT/$RESULTS (default parallel_<mode>_<P>gpu.json) from rank 0.
NCCL NVLink multicast stays off (NCCL_NVLS_ENABLE=0).
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
import torch
import torch.distributed as dist
import torch.nn.functional as F

import gratmod  # noqa: E402  (bench/cuda/gratmod.py: the generated packages, imported by path)
import maskfile  # noqa: E402  (bench/cuda/maskfile.py: the cases' mask files)
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import provenance  # noqa: E402  (bench/provenance.py: card, date, versions)

ROOT = ".gen/cuda"
OUT = os.environ.get("OUT", "/tmp/out")
MODE = sys.argv[1] if len(sys.argv) > 1 else "check"
MANIFEST = json.load(open(os.path.join(ROOT, "manifest.json")))
SELECT = os.environ.get("SELECT")


def module_of(c):
    return gratmod.load(c["dir"], c["module"], c["name"])


def selected(kind, default=None):
    cs = [c for c in MANIFEST if c["kind"] == kind]
    pick = SELECT.split(",") if SELECT else default
    return [c for c in cs if not pick or any(s in c["name"] for s in pick)]


BENCH_DEFAULT = ["flux_8192_grat_b_grouped", "flux_8192_grat_x_grouped", "hunyuan_720p_grat_b_grouped", "hunyuan_720p_grat_x_grouped"]

if MODE == "build":
    # build everything the runs need first (one process per kernel, in parallel), so the ranks only load from the cache
    import concurrent.futures as cf
    import subprocess

    def one(c):
        t0 = time.time()
        code = f"{gratmod.load_code(c['dir'], c['module'])}; m.load_library()"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, MAX_JOBS="1"))
        return c["name"], r.returncode, time.time() - t0, (r.stdout + r.stderr)[-3000:]
    bad = 0
    with cf.ThreadPoolExecutor(max_workers=16) as ex:
        for name, rc, sec, out in ex.map(one, selected("parallel") + selected("bench", BENCH_DEFAULT)):
            print(f"built {name}: {'ok' if rc == 0 else 'FAILED'} {sec:.1f}s", flush=True)
            if rc != 0:
                bad += 1
                print(out)
    sys.exit(1 if bad else 0)

dist.init_process_group("nccl")
rank, world = dist.get_rank(), dist.get_world_size()
local = int(os.environ.get("LOCAL_RANK", rank))
torch.cuda.set_device(local)
dev = torch.device("cuda", local)
results = {**provenance.header(), "gpus": world, "mode": MODE,
           "env": {k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE",)}, "rows": []}
results["versions"]["nccl"] = (lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else str(v))(torch.cuda.nccl.version())


def log(*a):
    if rank == 0:
        print(*a, flush=True)


def save():
    if rank == 0:
        os.makedirs(OUT, exist_ok=True)
        json.dump(results, open(os.path.join(OUT, os.environ.get("RESULTS", f"parallel_{MODE}_{world}gpu.json")), "w"), indent=1)


def rel(a, b):
    return (torch.linalg.vector_norm((a.float() - b.float()).flatten()) / torch.linalg.vector_norm(b.float().flatten()).clamp_min(1e-30)).item()


def poison(m):
    """NaN in every cached scratch buffer of the multi-GPU code (K/V rows not received would show)."""
    par = m._api._parallel()
    for b in par._buffers.values():
        b.fill_(float("nan"))


def shard(x, lo, hi, layout):
    return (x[:, :, lo:hi] if layout == "bhnd" else x[:, lo:hi]).contiguous()


# ---------------- check ----------------
def check():
    fails = 0
    for ci, c in enumerate(selected("parallel")):
        m = module_of(c)
        try:
            bounds = m.shard_bounds(world)
        except ValueError as e:
            log(f"skip {c['name']}: {e}")
            continue
        lo, hi = bounds[rank]
        N, D = c["tokens"], c["headDim"]
        B, H = 2, 4
        dtype = m.DTYPE
        for valid in c["valids"]:
            mask = maskfile.load_mask(os.path.join(c["dir"], f"mask_v{valid}.bin.gz"), N, dev)
            empty = ~mask.any(-1)
            for layout in ("bhnd", "bnhd"):
                seed = torch.tensor([int.from_bytes(os.urandom(4), "little") >> 1], device=dev)
                dist.broadcast(seed, 0)  # fresh inputs each run, the same on every rank
                g = torch.Generator(device=dev).manual_seed(int(seed.item()))
                q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=dtype, generator=g) for _ in range(3))
                ref32 = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=m.SCALE)
                ref32 = ref32.masked_fill(empty[None, None, :, None], 0.0)
                single = m.attention(q, k, v, text_valid=valid)
                if layout == "bnhd":
                    q, k, v, single, ref32 = (x.transpose(1, 2).contiguous() for x in (q, k, v, single, ref32))
                ql, kl, vl = (shard(x, lo, hi, layout) for x in (q, k, v))
                want, want32 = shard(single, lo, hi, layout), shard(ref32, lo, hi, layout)
                for mode in ("ulysses", "spatial", "auto"):
                    poison(m)
                    torch.empty(64 << 20, dtype=torch.uint8, device=dev).fill_(255)  # NaN-ish garbage in freed blocks
                    stats = {}
                    try:
                        out = m.parallel_attention(ql, kl, vl, mode=mode, layout=layout, text_valid=valid, stats=stats)
                        torch.cuda.synchronize()
                        nan = int(torch.isnan(out.float()).sum().item())
                        e_single = rel(out, want)
                        e_ref = rel(out, want32)
                        max_abs = (out.float() - want.float()).abs().max().item()
                        tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
                        predicted = m.parallel_bytes(world, rank, B, H, q.element_size())[stats["mode"]]
                        ok = nan == 0 and e_single < tol and e_ref < tol and out.shape == want.shape and predicted == stats["bytes_sent"]
                        err = None if predicted == stats["bytes_sent"] else f"parallel_bytes predicted {predicted}, sent {stats['bytes_sent']}"
                    except Exception as ex:  # a refusal or launch failure is a failed check, reported
                        ok, nan, e_single, e_ref, max_abs, err = False, -1, float("nan"), float("nan"), float("nan"), repr(ex)[:300]
                    flags = torch.tensor([0 if ok else 1], device=dev)
                    dist.all_reduce(flags)
                    allrows = [None] * world
                    dist.all_gather_object(allrows, dict(rank=rank, ok=ok, nan=nan, rel_single=e_single, rel_ref=e_ref, max_abs_single=max_abs, bytes_sent=stats.get("bytes_sent"), error=err))
                    row = dict(case=c["name"], mode=mode, layout=layout, valid=valid, seed=int(seed.item()), dtype=str(dtype).split(".")[-1], tokens=N, world=world, bounds=bounds, ok=flags.item() == 0, ranks=allrows)
                    results["rows"].append(row)
                    fails += flags.item() != 0
                    worst = max(r["rel_single"] for r in allrows)
                    worst_ref = max(r["rel_ref"] for r in allrows)
                    if not row["ok"]:
                        log(f"FAIL {c['name']} {mode} {layout} valid={valid} rel vs 1-GPU {worst:.2e} vs fp32 {worst_ref:.2e} "
                            f"nan {[r['nan'] for r in allrows]} {[r['error'] for r in allrows if r['error']] or ''}")
        rows = [r for r in results["rows"] if r["case"] == c["name"]]
        for mode in ("ulysses", "spatial", "auto"):
            rs = [r for r in rows if r["mode"] == mode]
            log(f"{c['name']:36s} {mode:8s} {sum(r['ok'] for r in rs)}/{len(rs)} ok, worst rel vs 1-GPU "
                f"{max(x['rel_single'] for r in rs for x in r['ranks']):.2e}, vs fp32 {max(x['rel_ref'] for r in rs for x in r['ranks']):.2e}")
        # the plug in parallel mode: a module calling SDPA on this rank's share
        class Attn(torch.nn.Module):
            def forward(self, q, k, v):
                return F.scaled_dot_product_attention(q, k, v)
        q, k, v = (torch.randn(1, 4, N, D, device=dev, dtype=dtype, generator=torch.Generator(device=dev).manual_seed(7 + i)) for i in range(3))
        single = m.attention(q, k, v, scale=D ** -0.5)
        for mode in ("ulysses", "spatial", "auto"):
            mod = Attn()
            p = m.plug(mod, parallel=mode)
            with torch.no_grad():
                out = mod(*(x[:, :, lo:hi] for x in (q, k, v)))
            e = rel(out, single[:, :, lo:hi])
            ok = p.calls == 1 and e < 1e-2
            flags = torch.tensor([0 if ok else 1], device=dev)
            dist.all_reduce(flags)
            results["rows"].append(dict(case=c["name"], mode=f"plug-{mode}", ok=flags.item() == 0, rel_single=e))
            fails += flags.item() != 0
            if flags.item() != 0:
                log(f"FAIL {c['name']} plug-{mode} rel {e:.2e} calls {p.calls}")
        save()
    results["failures"] = int(fails)
    save()
    log(f"{world} GPUs: {sum(r['ok'] for r in results['rows'])}/{len(results['rows'])} checks passed")
    return fails


# ---------------- bench ----------------
def timed(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    dist.barrier()
    ts = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    t = torch.tensor([statistics.median(ts)], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the layer is as slow as its slowest rank
    return t.item()


def bench():
    dist.barrier()  # every rank in the communicator before the first point-to-point batch
    for c in selected("bench", BENCH_DEFAULT):
        m = module_of(c)
        N, D, B, H = c["tokens"], c["headDim"], 1, 24
        iters = 10
        flops = c["flopsPerHead"] * B * H  # computed blocks, as bench/cuda/run.py counts them
        row = dict(case=c["name"], shape=c["shape"], pattern=c["pattern"], order=c["order"], tokens=N, batch=B, heads=H, gpus=world, density=c["density"])
        if world == 1:
            q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
            row["single_ms"] = timed(lambda: m.attention(q, k, v), iters)
            row["single_tflops"] = flops / row["single_ms"] / 1e9
            log(f"{c['name']:32s} 1 GPU {row['single_ms']:8.2f} ms  {row['single_tflops']:.0f} TF/s")
        else:
            for mode in ("ulysses", "spatial", "auto"):
                try:
                    lo, hi = m.shard_bounds(world)[rank]
                except ValueError as e:
                    row[mode] = dict(error=str(e))
                    continue
                q, k, v = (torch.randn(B, H, hi - lo, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
                stats = {}
                ms = timed(lambda: m.parallel_attention(q, k, v, mode=mode, stats=stats), iters)
                sent = [None] * world
                dist.all_gather_object(sent, stats.get("bytes_sent"))
                row[mode] = dict(ms=ms, chose=stats.get("mode"), bytes_sent_per_rank=sent, bytes_sent_max=max(sent), tflops_per_gpu=flops / ms / 1e9 / world)
                if mode == "spatial":
                    # the rank's image-query kernel alone (K/V already in place): compute and balance without communication
                    par, me = m._api._parallel(), m.spatial_plan(world)["ranks"][rank]
                    kv = [b for key, b in par._buffers.items() if key[0] == "kv"][0]
                    Hh, Dd, es = H, D, 2
                    skv = [Hh * Dd, Dd, 2 * B * Hh * Dd]
                    sq = [q.stride(0), q.stride(1), q.stride(2)]
                    o = torch.empty_like(q)
                    ptrs = (q.data_ptr() - lo * sq[2] * es, kv.data_ptr(), kv.data_ptr() + B * Hh * Dd * es, o.data_ptr() - lo * sq[2] * es, None)
                    g0, g1 = me["groups"]
                    run = lambda: m.launch_part(torch.bfloat16, dev, ptrs, sq + skv + skv + sq, B, H, m.TEXT_COUNT, m.SCALE, (0, g0, g1 - g0, 0, 0))
                    ts = []
                    for i in range(13):
                        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        a.record(); run(); b.record(); torch.cuda.synchronize()
                        if i >= 3:
                            ts.append(a.elapsed_time(b))
                    per = [None] * world
                    dist.all_gather_object(per, statistics.median(ts))
                    row[mode]["image_kernel_ms_per_rank"] = per
                    del o
                log(f"{c['name']:32s} {world} GPUs {mode:8s} {ms:8.2f} ms  sent/rank {max(sent) / 2**20:9.1f} MiB"
                    + (f"  image kernel per rank {['%.2f' % x for x in row[mode]['image_kernel_ms_per_rank']]}" if mode == "spatial" else ""))
                del q, k, v
                torch.cuda.empty_cache()
        results["rows"].append(row)
        save()


# ---------------- profile: where a call's time goes, per rank ----------------
def profile():
    """One traced call per mode after warm-up: every CUDA kernel and copy on every stream, with start
    (relative to the call's first event) and duration, per rank (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile as tprofile
    dist.barrier()
    for c in selected("bench", ["flux_8192_grat_b_grouped", "hunyuan_720p_grat_b_grouped"]):
        m = module_of(c)
        N, D, B, H = c["tokens"], c["headDim"], 1, 24
        lo, hi = m.shard_bounds(world)[rank]
        q, k, v = (torch.randn(B, H, hi - lo, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        for mode in ("spatial", "ulysses"):
            for _ in range(3):
                m.parallel_attention(q, k, v, mode=mode)
            torch.cuda.synchronize()
            dist.barrier()
            with tprofile(activities=[ProfilerActivity.CUDA]) as prof:
                m.parallel_attention(q, k, v, mode=mode)
                torch.cuda.synchronize()
            evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
            t0 = min(e.time_range.start for e in evs) if evs else 0
            tl = sorted(((e.time_range.start - t0, e.time_range.end - e.time_range.start, e.name[:60]) for e in evs))
            per = [None] * world
            dist.all_gather_object(per, tl)
            results["rows"].append(dict(case=c["name"], mode=mode, timeline_us=per))
            if rank == 0:
                for r, t in enumerate(per[:2]):  # an edge rank and a middle one (all ranks in the JSON)
                    end = max((a + b for a, b, _ in t), default=0)
                    print(f"{c['name']} {mode} rank {r}: {end / 1000:.2f} ms span; " + "; ".join(f"{a / 1000:.2f}+{b / 1000:.2f} {n[:28]}" for a, b, n in t if b > 20), flush=True)
        save()


try:
    if MODE == "profile":
        profile()
        rc = 0
    elif MODE == "check":
        rc = 1 if check() else 0
    else:
        bench()
        rc = 0
finally:
    save()
    dist.destroy_process_group()
sys.exit(rc)
