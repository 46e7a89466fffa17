"""Device run for the CUDA backend: build every generated kernel, check it against SDPA with the
dense boolean mask from compiler/reference.ts, and benchmark it against cuDNN / flash SDPA (full
attention) and FlexAttention with the identical block mask, all in one process on one card.

Inputs: .gen/cuda/ written by `node dist/bench/cuda/cases.js` (this machine has no Node).
    PYTHONUNBUFFERED=1 OUT=/tmp/out python3 bench/cuda/run.py [build] [check] [bench]
Writes $OUT/cuda_bench.json (card, date, versions, every number) and prints tables last.
On a compute-capability-9.0 card (H100/H200) every phase runs both kernels of a case, the portable
sm_80 one and the Hopper sm_90a one (`arch` in each row); ARCHS=sm90a (or sm80) restricts that.
SELECT=a,b keeps the cases whose names contain a or b (CHECKS=all keeps every check case too).
Timing is interleaved: every contestant of a (shape, pattern) — FlexAttention and each of our
kernels — runs one block of calls per round (ROUNDS, default 8), in an order shuffled every round
(SEED), after an idle gap (GAP_MS, default 150); its time is the median over rounds, so the card's
power limit, clocks and temperature weigh on all alike. `sass` (with build) reports, per Hopper
build, HGMMA and local-memory instruction counts and the softmax work ptxas left between the wait
for S and the wait for P·V.
VARIANTS="name=nvcc flags;name=flags" adds builds of the Hopper kernel with other GRAT_CUDA_FLAGS (nvcc
flags) as contestants of the bench; the kernel's own variants (turn-taking, lazy rescaling, ...) are
fields of its spec, so other kernels: `cases.js --sm90-variants` emits them as more contestants of the
same (shape, pattern), A/B in one run. DENSE=0 skips cuDNN / flash SDPA, FLEX=0 FlexAttention
(for A/B runs of our kernels alone: no ratio to Flex then).
Kernels compiled with run-time sizes (manifest "runtime": true, issue 18) are called through their C
entry point with explicit sizes (bench/cuda/rtcall.py): check cases at each of their launch sizes,
with one text_valid for all and with a per-sample text_valid tensor (one sample 0), and sizes past
their limits must be refused; bench cases are contestants of variant "runtime" beside the
specialised kernel of the same (shape, pattern), and the summary prints runtime / specialised.
"""
import concurrent.futures as cf
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time

import torch

import gratmod  # noqa: E402  (bench/cuda/gratmod.py: the generated packages, imported by path)
import maskfile  # noqa: E402  (bench/cuda/maskfile.py: the cases' mask files)
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import provenance  # noqa: E402  (bench/provenance.py: card, date, versions)
import rtcall  # noqa: E402  (bench/cuda/rtcall.py: the C entry point with launch sizes)
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
results = {**provenance.header(), "build": [], "check": [], "bench": []}


def save():
    json.dump(results, open(os.path.join(OUT, os.environ.get("RESULTS", "cuda_bench.json")), "w"), indent=1)


CAP = torch.cuda.get_device_capability()
ARCHS_ENV = os.environ.get("ARCHS")  # e.g. "sm90a" to run only the Hopper kernel


def parse_variants(text):
    """"name=flags;name=flags" -> [(name, flags)]; the plain build is always first, as "base"."""
    out = [("base", "")]
    for item in filter(None, (x.strip() for x in (text or "").split(";"))):
        name, _, flags = item.partition("=")
        if name != "base":
            out.append((name.strip(), flags.strip()))
    return out


VARIANTS = parse_variants(os.environ.get("VARIANTS"))


def archs_of(m):
    """Kernels to build/check/time on this card: sm80 always, sm90a on a 9.0 card when emitted."""
    a = ["sm80"] + (["sm90a"] if getattr(m, "SM90A", False) and CAP == (9, 0) else [])
    return [x for x in a if not ARCHS_ENV or x in ARCHS_ENV.split(",")]


def module_of(c):
    """Imports a case's generated package under a unique name (many share a module name), afresh."""
    return gratmod.load(c["dir"], c["module"], c["name"])


# ---------------- build: every kernel, in parallel processes ----------------
def build_all(cases):
    jobs = [(c, "base", os.environ.get("GRAT_CUDA_FLAGS", "")) for c in cases]
    jobs += [(c, name, flags) for c in cases if c["kind"] == "bench" for name, flags in VARIANTS[1:]]

    def one(job):
        c, variant, flags = job
        env = dict(os.environ, MAX_JOBS="1", GRAT_CUDA_FLAGS=flags)
        if variant != "base":
            env["ARCHS"] = "sm90a"  # the switches are the Hopper kernel's
        t0 = time.time()
        code = (f"import os; {gratmod.load_code(c['dir'], c['module'])}; "
                f"cap = __import__('torch').cuda.get_device_capability(); archs = ['sm80'] + (['sm90a'] if getattr(m, 'SM90A', False) and cap == (9, 0) else []); "
                f"env = os.environ.get('ARCHS'); [m.load_library(verbose=True, arch=a) for a in archs if not env or a in env.split(',')]")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        log = r.stdout + r.stderr
        spills = [l.strip() for l in log.splitlines() if "spill" in l.lower() or "lmem" in l.lower() or "stack frame" in l.lower()]
        return dict(name=c["name"], variant=variant, flags=flags, ok=r.returncode == 0, seconds=round(time.time() - t0, 1), warnings=spills[:6],
                    log=None if r.returncode == 0 else log[-4000:])
    # run-time kernels are shared by several cases (one folder): build each kernel once
    firsts, same = [], {}
    for job in jobs:
        key = (job[0]["kernel"], job[1])
        if key in same:
            same[key].append(job[0]["name"])
        else:
            same[key] = []
            firsts.append(job)
    with cf.ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 4)) as ex:
        for job, b in zip(firsts, ex.map(one, firsts)):
            for name in [b["name"]] + same[(job[0]["kernel"], job[1])]:
                results["build"].append(dict(b, name=name))
            print(f"build {b['name']} [{b['variant']}]: {'ok' if b['ok'] else 'FAILED'} {b['seconds']}s {b['warnings'] or ''}")
            if not b["ok"]:
                print(b["log"])
    save()


# ---------------- sass: where ptxas put the wait for P·V in each Hopper build ----------------
def sass_overlap(so_path):
    """cuobjdump -sass of a built library: per kernel instance (bf16 / fp16), for each wait for S
    (WARPGROUP.DEPBAR.LE gsb0, 0x1) the instructions and MUFU.EX2 (exp2) before the next wait for
    P·V (DEPBAR.LE gsb0, 0x0): the softmax work that runs while P·V is in flight; plus counts of
    HGMMA and local-memory instructions."""
    txt = subprocess.run(["cuobjdump", "-sass", so_path], capture_output=True, text=True).stdout
    out = {}
    fn = None
    lines = []
    for line in txt.splitlines() + ["Function : <end>"]:
        if "Function :" in line:
            if fn and "attention_kernel" in fn:
                key = "bf16" if "bfloat16" in fn else "fp16"
                ins = [l.split("*/", 1)[1].strip() for l in lines if "/*" in l and "*/" in l and not l.strip().startswith("/* ")]
                ins = [i for i in ins if i and not i.startswith("/*")]
                spans = []
                for k, i in enumerate(ins):
                    if "DEPBAR.LE gsb0, 0x1" in i:
                        for m in range(k + 1, len(ins)):
                            if "DEPBAR.LE gsb0, 0x0" in ins[m]:
                                spans.append(dict(instr=m - k - 1, exp2=sum("MUFU.EX2" in x for x in ins[k + 1:m])))
                                break
                out[key] = dict(spans=spans, hgmma=sum("HGMMA" in i for i in ins), ldl_stl=sum(i.startswith(("LDL", "STL")) for i in ins), instr=len(ins))
            fn = line.split("Function :", 1)[1].strip()
            lines = []
        else:
            lines.append(line)
    return out


def sass_all(cases):
    results.setdefault("sass", [])
    for c in cases:
        if c["kind"] != "bench":
            continue
        for variant, flags in VARIANTS:
            m = module_of(c)
            if not getattr(m, "SM90A", False):
                continue
            name = m.KERNEL + "_sm90a"
            extra = (flags if variant != "base" else os.environ.get("GRAT_CUDA_FLAGS", "")).split()
            so = os.path.join(m._build.build_dir(name, "sm90a", extra), name + ".so")
            if not os.path.exists(so):
                continue
            st = sass_overlap(so)
            results["sass"].append(dict(case=c["name"], variant=variant, flags=flags, **st))
            b = st.get("bf16", {})
            print(f"sass {c['name']:32s} {variant:10s} HGMMA {b.get('hgmma')} LDL/STL {b.get('ldl_stl')} softmax beside P·V (instr, exp2): {[(x['instr'], x['exp2']) for x in b.get('spans', [])]}")
    save()


# ---------------- check: against SDPA with the dense mask, fp32 reference ----------------
def rel(a, b):
    return (torch.linalg.vector_norm((a.float() - b.float()).flatten()) / torch.linalg.vector_norm(b.float().flatten()).clamp_min(1e-30)).item()


def check_case(c):
    m = module_of(c)
    for arch in archs_of(m):
        (check_runtime_arch if c.get("runtime") else check_case_arch)(c, m, arch)


def load_mask(path, N):
    return maskfile.load_mask(path, N, dev)


def compare(o, lse, q, k, v, masks, scale):
    """(rel_err, lse max abs err, empty rows' lse all -inf, unwritten) of o [B, H, N, D] and lse against
    the fp32 dense-masked reference; masks: one [N, N] mask per sample."""
    unwritten = int(torch.isnan(o).sum().item())
    q32, k32, v32 = q.float(), k.float(), v.float()
    refs, lse_refs = [], []
    for b, mask in enumerate(masks):
        ref = F.scaled_dot_product_attention(q32[b:b + 1], k32[b:b + 1], v32[b:b + 1], attn_mask=mask, scale=scale)
        refs.append(ref.masked_fill((~mask.any(-1))[None, None, :, None], 0.0))
        s_ = (q32[b:b + 1] @ k32[b:b + 1].transpose(-1, -2)) * scale
        lse_refs.append(s_.masked_fill(~mask, float("-inf")).logsumexp(-1))
    ref, lse_ref = torch.cat(refs), torch.cat(lse_refs)
    err = rel(o, ref) if unwritten == 0 else float("nan")
    fin = torch.isfinite(lse_ref)
    lse_err = (lse[fin] - lse_ref[fin]).abs().max().item() if fin.any() else 0.0
    lse_inf_ok = bool(torch.all(torch.isneginf(lse[~fin])).item()) if (~fin).any() else True
    return err, lse_err, lse_inf_ok, unwritten


def check_runtime_arch(c, m, arch):
    """A kernel compiled with run-time sizes at each of its launch sizes (ragged, 1 token, text 0):
    one text_valid for all samples, then a per-sample text_valid tensor with one sample 0 (a CFG
    batch); then sizes past its limits or unlike a compiled size must be refused (cudaErrorInvalidValue)."""
    lib = m.load_library(arch=arch)
    D, scale, B, H = c["headDim"], c["scale"], 2, 3
    for L in c["launches"]:
        N, sizes, count = L["tokens"], L["grid"] + [L["text"]], L["text"]
        masks = {v: load_mask(L["masks"][str(v)], N) for v in L["valids"]}
        # (per-sample lengths, layout): a text_valid tensor where the text has tokens
        runs = [((v, v), None, lay) for v in L["valids"] for lay in ("bhnd", "bnhd")]
        if count > 0:
            runs += [((count, 0), "tensor", "bhnd"), ((0, min(77, count)), "tensor", "bnhd")]
        for (v0, v1), how, layout in runs:
            for dtype in (torch.bfloat16, torch.float16):
                q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=dtype) for _ in range(3))
                qi, ki, vi = (x.transpose(1, 2).contiguous() for x in (q, k, v)) if layout == "bnhd" else (q, k, v)
                out = torch.full(qi.shape, float("nan"), device=dev, dtype=dtype)  # poisoned
                lse = torch.full((B, H, N), float("nan"), device=dev, dtype=torch.float32)
                tv = torch.tensor([v0, v1], device=dev, dtype=torch.int32) if how == "tensor" else None
                rtcall.forward(lib, qi, ki, vi, out, sizes, text_valid=tv, text_valid_all=v0, scale=scale, lse=lse, layout=layout)
                torch.cuda.synchronize()
                o = out.transpose(1, 2) if layout == "bnhd" else out
                err, lse_err, lse_inf_ok, unwritten = compare(o, lse, q, k, v, [masks[v0], masks[v1]], scale)
                tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
                ok = unwritten == 0 and err < tol and lse_err < 2e-2 and lse_inf_ok
                row = dict(case=c["name"], arch=arch, runtime=True, grid=L["grid"], text=count, valid=[v0, v1], text_valid=how or "int",
                           dtype=str(dtype).split(".")[-1], layout=layout, rel_err=err, tol=tol, lse_max_abs_err=lse_err,
                           lse_empty_rows_ok=lse_inf_ok, unwritten=unwritten, ok=ok)
                results["check"].append(row)
                print(f"check {c['name']:24s} {arch:5s} {'x'.join(map(str, L['grid'])):>10s}+{count:<4d} valid={v0},{v1} ({how or 'int'}) {row['dtype']:8s} {layout} "
                      f"rel_err={err:.2e} lse={lse_err:.1e} {'ok' if ok else 'FAIL'}")
        del masks
    # refused: a run-time size past its limit, a compiled size given otherwise, no sizes at all
    lim, L = c["limits"], c["launches"][0]
    N, D = L["tokens"], c["headDim"]
    q = torch.zeros(1, 1, N, D, device=dev, dtype=torch.bfloat16)
    bad = []
    for a, rt in enumerate(lim["dims"]):
        s = L["grid"] + [L["text"]]
        s[a] = lim["max"]["dims"][a] + 1 if rt else s[a] + 1
        bad.append(s)
    if lim["text"]:
        bad.append(L["grid"] + [lim["max"]["text"] + 1])
    for s in bad:
        rc = rtcall.call(lib, q, q, q, q.clone(), s, scale=scale)
        ok = rc == rtcall.INVALID_VALUE
        results["check"].append(dict(case=c["name"], arch=arch, runtime=True, refused=s, rc=rc, ok=ok))
        print(f"check {c['name']:24s} {arch:5s} sizes {s} refused: rc={rc} {'ok' if ok else 'FAIL'}")
    torch.cuda.empty_cache()


def check_case_arch(c, m, arch):
    N, D, scale = c["tokens"], c["headDim"], c["scale"]
    B, H = 2, 3
    for valid in c["valids"]:
        mask = load_mask(os.path.join(c.get("maskDir", c["dir"]), f"mask_v{valid}.bin"), N)
        empty_rows = ~mask.any(-1)
        for dtype in (torch.bfloat16, torch.float16):
            for layout in ("bhnd", "bnhd", "view", "spiky"):
                # fresh inputs every time; "view": bhnd views of one packed [B, N, 3, H, D] qkv tensor
                if layout == "view":
                    qkv = torch.randn(B, N, 3, H, D, device=dev, dtype=dtype)
                    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
                    q_in, k_in, v_in, lay = q, k, v, "bhnd"
                else:
                    q, k, v = (torch.randn(B, H, N, D, device=dev, dtype=dtype) for _ in range(3))
                    if layout == "spiky":
                        # a few keys with scores far above the rest (x30: ~100 nats, x300: ~1000): every
                        # max-update path of the online softmax runs, the max-free one's rescale by a
                        # power of two and its overflow (recomputed scores) included
                        gain = torch.ones(N, device=dev)
                        gain[torch.rand(N, device=dev) < 0.03] = 30.0
                        gain[torch.rand(N, device=dev) < 0.005] = 300.0
                        k = (k.float() * gain[None, None, :, None]).to(dtype)
                    if layout == "bnhd":
                        q_in, k_in, v_in = (x.transpose(1, 2).contiguous() for x in (q, k, v))
                    else:
                        q_in, k_in, v_in = q, k, v
                    lay = "bhnd" if layout == "spiky" else layout
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


def sm_clock():
    """The SM clock now (MHz) through NVML, or None where pynvml is missing."""
    try:
        return torch.cuda.clock_rate()
    except Exception:
        return None


CLOCKS = {}  # label -> SM clocks read during its timed blocks


def time_interleaved(fns, rounds=None, block_ms=60.0, tag=""):
    """Per-call medians of the contestants {label: fn}: after a warm-up, each round runs every
    contestant once — a block of back-to-back calls of ~block_ms between two events — in an order
    shuffled every round, with an idle gap (GAP_MS, default 150) before each block: the card's power
    management reacts to the load before it, so a fixed order (one contestant always after the
    slower peer) measured 5-10 % differences between identical builds. Returns ({label: median ms},
    {label: [ms per call, each round]}); the SM clock read during each block goes to CLOCKS, and
    each block's wall-clock span to results["blocks"] (to line up with an nvidia-smi trace)."""
    import random
    rounds = rounds or int(os.environ.get("ROUNDS", "8"))
    gap = float(os.environ.get("GAP_MS", "150")) / 1000
    rng = random.Random(int(os.environ.get("SEED", "1")))
    labels = list(fns)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    reps = {}
    for l in labels:
        fns[l]()
        torch.cuda.synchronize()
        s.record(); fns[l](); e.record(); e.synchronize()
        reps[l] = int(max(1, min(50, block_ms / max(s.elapsed_time(e), 1e-3))))
    samples = {l: [] for l in labels}
    for r in range(rounds):
        order = labels[:]
        rng.shuffle(order)
        for l in order:
            fn = fns[l]
            time.sleep(gap)
            t0 = time.time()
            s.record()
            for _ in range(reps[l]):
                fn()
            e.record()
            clk = sm_clock()  # (the calls are queued: the card is busy with them now)
            e.synchronize()
            samples[l].append(s.elapsed_time(e) / reps[l])
            # (local wall-clock time, as nvidia-smi's timestamps)
            results.setdefault("blocks", []).append({"tag": tag, "label": l, "calls": reps[l],
                                                     "start": datetime.datetime.fromtimestamp(t0).isoformat(),
                                                     "end": datetime.datetime.now().isoformat()})
            if clk is not None:
                CLOCKS.setdefault(l, []).append(clk)
    return {l: statistics.median(v) for l, v in samples.items()}, samples


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
        t_cudnn = t_flash = float("nan")
        if os.environ.get("DENSE", "1") != "0":
            try:
                with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                    t_cudnn = timeit(lambda: F.scaled_dot_product_attention(q, k, v), max_reps=3 if big else 100)
            except Exception as ex:
                print("cudnn failed:", ex)
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
            contestants = {}
            # FlexAttention: mask built once (timed), kernel compiled on the first call (timed);
            # flex_block_mask assumes full groups, so ragged shapes run without it
            ragged = any(s % g for s, g in zip(c0["grid"], c0["group"]))
            try:
                if ragged:
                    raise RuntimeError("ragged grid: no FlexAttention mask")
                if os.environ.get("FLEX", "1") == "0":
                    raise RuntimeError("FLEX=0: FlexAttention skipped")
                torch.cuda.synchronize(); t0 = time.time()
                bm = flex_block_mask(c0, N)
                torch.cuda.synchronize(); row["flex_mask_build_s"] = time.time() - t0
                row["flex_block_density"] = 1 - bm.sparsity() / 100
                t0 = time.time()
                ref = flex(q, k, v, block_mask=bm)
                torch.cuda.synchronize(); row["flex_first_call_s"] = time.time() - t0
                contestants["flex"] = lambda: flex(q, k, v, block_mask=bm)
            except Exception as ex:
                print("flex failed:", repr(ex)[:400])
                ref, bm = None, None
            print(f"{shape} {pattern}: flex mask {row.get('flex_mask_build_s', float('nan')):.2f} s, first call {row.get('flex_first_call_s', float('nan')):.2f} s")
            ours = []  # (case, arch, variant, flags, module, out, first call s)
            saved_flags = os.environ.get("GRAT_CUDA_FLAGS")
            for c in pcases:
                for variant, flags in VARIANTS:
                    if c.get("runtime") and variant != "base":
                        continue
                    m = module_of(c)  # a fresh module: its own library cache, so each variant loads its own build
                    for arch in archs_of(m):
                        if variant != "base" and arch != "sm90a":
                            continue
                        os.environ["GRAT_CUDA_FLAGS"] = flags if variant != "base" else (saved_flags or "")
                        try:
                            m.load_library(arch=arch)
                        finally:
                            if saved_flags is None:
                                os.environ.pop("GRAT_CUDA_FLAGS", None)
                            else:
                                os.environ["GRAT_CUDA_FLAGS"] = saved_flags
                        out = torch.empty_like(q)
                        label = f"{c['name']}|{arch}|{variant}"
                        if c.get("runtime"):
                            # the run-time kernel through its C entry point, the sizes given at launch
                            lib = m.load_library(arch=arch)
                            call = (lambda lib=lib, out=out, c=c: rtcall.forward(lib, q, k, v, out, c["sizes"], text_valid_all=c["text"], scale=c["scale"]))
                        else:
                            call = (lambda m=m, out=out, arch=arch: m.attention(q, k, v, out=out, arch=arch))
                        torch.cuda.synchronize(); t0 = time.time()
                        call()
                        torch.cuda.synchronize()
                        contestants[label] = call
                        ours.append((c, arch, variant, flags, label, out, time.time() - t0))
            medians, samples = time_interleaved(contestants, tag=f"{shape} {pattern}")
            if "flex" in medians:
                row["flex_ms"] = medians["flex"]
                row["flex_tflops"] = flops / row["flex_ms"] / 1e9
                row["flex_round_ms"] = samples["flex"]
                row["flex_sm_mhz"] = CLOCKS.get("flex")
            print(f"{shape} {pattern}: flex {row.get('flex_ms', float('nan')):.3f} ms  SM MHz {statistics.median(CLOCKS['flex']) if CLOCKS.get('flex') else 'n/a'}")
            for c, arch, variant, flags, label, out, first in ours:
                ms = medians[label]
                r = dict(row, arch=arch, order=c["order"], variant=c["variant"], tiling=c["tiling"], build_variant=variant, build_flags=flags,
                         ours_ms=ms, ours_round_ms=samples[label], ours_first_call_s=first, ours_sm_mhz=CLOCKS.get(label),
                         ours_tflops=flops / ms / 1e9, speedup_vs_cudnn=t_cudnn / ms, speedup_vs_flash=t_flash / ms)
                if "flex_ms" in row:
                    r["ours_over_flex"] = row["flex_ms"] / ms
                if ref is not None and c["order"] == "grouped":
                    r["rel_err_vs_flex"] = rel(out, ref)
                # the run-time kernel against the specialised one of the same order and arch (same inputs)
                spec_out = [o2 for c2, a2, v2, _, _, o2, _ in ours if c2["order"] == c["order"] and a2 == arch and v2 == "base" and c2["variant"] == "default"]
                if c.get("runtime") and spec_out:
                    r["rel_err_vs_specialised"] = rel(out, spec_out[0])
                results["bench"].append(r)
                clk = CLOCKS.get(label)
                print(f"  ours {arch:5s} {variant:10s} {c['name']:36s} {ms:8.3f} ms {r['ours_tflops']:6.1f} TF/s  flex/ours {r.get('ours_over_flex', float('nan')):.2f}  "
                      f"cudnn/ours {r['speedup_vs_cudnn']:.1f}  err_vs_flex {r.get('rel_err_vs_flex', float('nan')):.1e}  SM MHz {statistics.median(clk) if clk else 'n/a'}")
            save()
            del ref, bm, ours, contestants
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
    if "sass" in PHASES:
        sass_all([c for c in cases if c["name"] in built])
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
    # run-time sizes (issue 18): the run-time kernel's time over the specialised one's, same run and card
    rt_rows = [r for r in results["bench"] if r.get("variant") == "runtime" and "ours_ms" in r]
    if rt_rows:
        print(f"\n{'shape':18s} {'pattern':7s} {'order':8s} {'arch':5s} {'spec_ms':>8s} {'rt_ms':>8s} {'rt/spec':>7s} {'err_vs_spec':>11s}")
        for r in rt_rows:
            base = [b for b in results["bench"] if b.get("variant") == "default" and b.get("build_variant", "base") == "base" and "ours_ms" in b
                    and (b["shape"], b["pattern"], b["order"], b["arch"]) == (r["shape"], r["pattern"], r["order"], r["arch"])]
            if base:
                print(f"{r['shape']:18s} {r['pattern']:7s} {r['order']:8s} {r['arch']:5s} {base[0]['ours_ms']:8.3f} {r['ours_ms']:8.3f} {r['ours_ms'] / base[0]['ours_ms']:7.3f} "
                      f"{r.get('rel_err_vs_specialised', float('nan')):11.1e}")
    print(f"{'shape':14s} {'pattern':7s} {'order':8s} {'arch':5s} {'build':10s} {'variant':12s} {'ours_ms':>8s} {'flex_ms':>8s} {'cudnn_ms':>9s} {'TF/s':>6s} {'flexTF':>6s} {'flex/ours':>9s}")
    for r in results["bench"]:
        if "ours_ms" in r:
            print(f"{r['shape']:14s} {r['pattern']:7s} {r['order']:8s} {r.get('arch', 'sm80'):5s} {r.get('build_variant', 'base'):10s} {r['variant']:12s} {r['ours_ms']:8.3f} {r.get('flex_ms', float('nan')):8.3f} {r['cudnn_ms']:9.2f} "
                  f"{r['ours_tflops']:6.1f} {r.get('flex_tflops', float('nan')):6.1f} {r.get('ours_over_flex', float('nan')):9.2f}")


if __name__ == "__main__":
    main()
