"""End to end: one whole transformer forward (Flux-dev, HunyuanVideo-like; examples/flux_model.py,
examples/hunyuan_model.py; random weights, bf16, batch 1, no_grad) with three attentions:

  dense   F.scaled_dot_product_attention without a mask, PyTorch's faster backend of cuDNN and
          flash at this sequence length (one attention call of each is timed first; the row says which)
  flex    FlexAttention with the GRAT block mask (bench/pipeline/masks.py's mask_mod, tested
          against compiler/reference.ts in CI), built once per (shape, pattern) and timed apart;
          in the eager model the flex kernel itself is torch.compile'd (as FlexAttention is meant to run)
  flexg   (optional) the same on tokens in grouped order, as the official GRAT code runs it: image
          tokens and their positions permuted once before the forward and back after (timed)
  gratc   the gratc kernel through the generated loader's grat.plug(model, grid=..., text_valid=...)
          (strict where the loader has it, so no call can silently run dense)

each eager and with regional torch.compile (every block module compiled on its own, dynamic=False;
the embedders, RoPE tables and final layer stay eager), compile time reported apart. Every output is
compared with the dense-MASKED reference: the same model with SDPA given the pattern's boolean mask
(row chunks of REF_CHUNK queries; the mask, N^2 bytes, built once per (shape, pattern) from the same
mask_mod). Speedups are against dense and Flex in the same compile mode.

Run on the GPU machine from the repository root, with the modules bench/pipeline/emit.sh wrote here
carried along (.gen/e2e):
    PYTHONUNBUFFERED=1 OUT=/tmp/out SHAPES=flux_4096 PATTERNS=b METHODS=dense,flex,gratc COMPILE=0,1 \
        python3 bench/pipeline/e2e.py [MODULE_FOLDER ...]
Environment (defaults in brackets):
  SHAPES [flux_4096]       names in bench/pipeline/shapes.py, `all`, or flux:HxW / hunyuan:TxHxW
  PATTERNS [b,x]           GRAT-B, GRAT-X
  METHODS [dense,flex,gratc]  any of dense, flex, flexg, gratc
  COMPILE [0,1]            0 eager, 1 regional torch.compile
  FLUX_DEPTH [19,38]       double, single blocks (Flux-dev: 19, 38)
  VIDEO_DEPTH [2,4]        HunyuanVideo: 20, 40 in full; reduced by default to fit the time budget
                           (per-block work is the same in double and single blocks, so the ratio of
                           times changes little with depth; the output says which depth ran)
  TEXT_VALID               real text tokens [Flux: all 512, as Flux attends to its padded T5 tokens;
                           HunyuanVideo: 137 of 256, which masks its prompt padding]
  REF [1]                  0: no masked reference (no differences reported)
  REF_CHUNK [2048]         query rows per masked SDPA call of the reference
  REPS [3], REP_BUDGET_S [12]  timed forwards after the warm-up: up to REPS, fewer when one takes long
  TIME_BUDGET_S [500]      configurations not started by then are skipped (recorded as such)
  GRAT_MODULES             module folders, comma-separated (or as arguments) [every folder in .gen/e2e]
  GRATC_KIND [auto]        auto (a run-time-grid module if one fits, else grid-bound), runtime, bound
  SEED [0]                 weights (inputs use SEED + 1)
Writes $OUT/e2e.json (card, date, versions, selection, one row per configuration) and prints a table.
"""
import contextlib
import gc
import importlib.util
import inspect
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(ROOT, "examples"), os.path.join(ROOT, "bench")]
import flux_model  # noqa: E402
import provenance  # noqa: E402  (bench/provenance.py: card, date, versions)
import hunyuan_model  # noqa: E402
import masks  # noqa: E402
import shapes as shape_table  # noqa: E402

SDPA = F.scaled_dot_product_attention  # PyTorch's own, before anything replaces it
T_START = time.time()


def env_list(name, default):
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def env_depth(name, default):
    d = tuple(int(x) for x in env_list(name, default))
    if len(d) != 2 or min(d) < 0:
        raise SystemExit(f"{name} must be two counts 'double,single', got {os.environ.get(name)!r}")
    return d


SHAPES = shape_table.parse_shapes(os.environ.get("SHAPES", "flux_4096"))
PATTERNS = shape_table.parse_patterns(os.environ.get("PATTERNS", "b,x"))
METHODS = env_list("METHODS", "dense,flex,gratc")
if set(METHODS) - {"dense", "flex", "flexg", "gratc"}:
    raise SystemExit(f"METHODS: unknown {sorted(set(METHODS) - {'dense', 'flex', 'flexg', 'gratc'})}")
COMPILE = [bool(int(x)) for x in env_list("COMPILE", "0,1")]
DEPTH = {"flux": env_depth("FLUX_DEPTH", "19,38"), "hunyuan": env_depth("VIDEO_DEPTH", "2,4")}
FULL_DEPTH = {"flux": (19, 38), "hunyuan": (20, 40)}
TEXT_VALID = os.environ.get("TEXT_VALID")
DEFAULT_VALID = {"flux": 512, "hunyuan": 137}
REF = os.environ.get("REF", "1") != "0"
REF_CHUNK = int(os.environ.get("REF_CHUNK", "2048"))
REPS = int(os.environ.get("REPS", "3"))
REP_BUDGET_S = float(os.environ.get("REP_BUDGET_S", "12"))
TIME_BUDGET_S = float(os.environ.get("TIME_BUDGET_S", "500"))
GRATC_KIND = os.environ.get("GRATC_KIND", "auto")
SEED = int(os.environ.get("SEED", "0"))
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
DEV = os.environ.get("E2E_DEVICE", "cuda")  # (cpu: only for a smoke run of this script's logic)
MODELS = {"flux": flux_model, "hunyuan": hunyuan_model}
if DEV != "cuda":  # a smoke run of the script's logic on a CPU build of torch: CUDA timing calls become no-ops
    class _CpuEvent:
        def __init__(self, enable_timing=False):
            self.t = 0.0

        def record(self, stream=None):
            self.t = time.perf_counter()

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return (end.t - self.t) * 1e3

    for _name, _fn in {"synchronize": lambda *a, **k: None, "empty_cache": lambda: None, "reset_peak_memory_stats": lambda *a: None,
                       "max_memory_allocated": lambda *a: 0, "Event": _CpuEvent}.items():
        setattr(torch.cuda, _name, _fn)


RESULTS = {**provenance.header(None if DEV == "cuda" else f"{DEV} (smoke run)"),
           "selection": {"shapes": [s.name for s in SHAPES], "patterns": PATTERNS, "methods": METHODS, "compile": COMPILE,
                         "depth": {k: list(v) for k, v in DEPTH.items()}, "text_valid": TEXT_VALID, "ref": REF},
           "notes": [], "builds": [], "dense_backend": [], "block_masks": [], "rows": []}


def save():
    with open(os.path.join(OUT, "e2e.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


def note(text):
    print(f"note: {text}")
    RESULTS["notes"].append(text)


def free():
    gc.collect()
    torch.cuda.empty_cache()


# ---------------- gratc modules ----------------
def import_module(folder):
    """The loader gratc wrote in `folder` (a package folder with pyproject.toml, or a grat_*.py
    file beside its kernels), imported under a name of its own: folders share module names."""
    folder = os.path.abspath(folder)
    unique = "e2e_" + re.sub(r"\W", "_", os.path.relpath(folder, ROOT))
    pkgs = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "__init__.py")))
    files = sorted(f for f in os.listdir(folder) if re.fullmatch(r"grat_\w+\.py", f))
    if pkgs:
        path = os.path.join(folder, pkgs[0], "__init__.py")
        spec = importlib.util.spec_from_file_location(unique, path, submodule_search_locations=[os.path.dirname(path)])
    elif files:
        path = os.path.join(folder, files[0])
        spec = importlib.util.spec_from_file_location(unique, path)
    else:
        raise FileNotFoundError(f"{folder}: no gratc loader (a package folder or grat_*.py) in it")
    m = importlib.util.module_from_spec(spec)
    sys.modules[unique] = m
    spec.loader.exec_module(m)
    m.E2E_FOLDER, m.E2E_PATH = folder, path
    return m


def module_folders():
    given = [x for x in (sys.argv[1:] or env_list("GRAT_MODULES", "")) if x]
    if given:
        return given
    root = os.path.join(ROOT, ".gen", "e2e")
    return sorted(os.path.join(root, d) for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))) if os.path.isdir(root) else []


def pick_module(mods, pattern, grid):
    """The module of `pattern` whose grid admits `grid` (None = run-time size), by GRATC_KIND."""
    fits = []
    for m in mods:
        G = tuple(m.GRID)
        if m.PATTERN == pattern.name and len(G) == len(grid) and all(g is None or g == s for g, s in zip(G, grid)) \
                and getattr(m, "TEXT_COUNT", pattern.text) in (None, pattern.text):
            fits.append((any(g is None for g in G), m))
    want = {"runtime": [True], "bound": [False], "auto": [True, False]}[GRATC_KIND]
    for kind in want:
        for runtime, m in fits:
            if runtime == kind:
                return m
    return None


def build_in_background(mods):
    """Builds each module's kernel for this card in parallel processes (nvcc, 30-60 s each) while the
    model is set up; returns a future of the build records."""
    code = ("import importlib.util as u, sys; p, d, n = sys.argv[1:4]; s = u.spec_from_file_location(n, p, "
            "submodule_search_locations=[d] if p.endswith('__init__.py') else None); m = u.module_from_spec(s); "
            "sys.modules[n] = m; s.loader.exec_module(m); m.load_library()")

    def one(m):
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", code, m.E2E_PATH, os.path.dirname(m.E2E_PATH), "e2e_build"],
                           capture_output=True, text=True, env=dict(os.environ, MAX_JOBS="1"))
        rec = {"module": os.path.relpath(m.E2E_FOLDER, ROOT), "kernel": m.KERNEL, "ok": r.returncode == 0, "seconds": round(time.time() - t0, 1)}
        if r.returncode != 0:
            rec["log"] = (r.stdout + r.stderr)[-3000:]
        return rec

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(mods), (os.cpu_count() or 4))))
    futures = [pool.submit(one, m) for m in mods]
    pool.shutdown(wait=False)
    return futures


# ---------------- attention replacements ----------------
def dense_mask(pattern, grid, valid, rows=1024):
    """The pattern's [N, N] boolean mask on the GPU, from masks.mask_mod in row chunks."""
    N = masks.tokens(pattern, grid)
    mod = masks.mask_mod(pattern, grid, valid)
    out = torch.empty(N, N, dtype=torch.bool, device=DEV)
    kv = torch.arange(N, device=DEV, dtype=torch.int32)[None, :]
    for a in range(0, N, rows):
        q = torch.arange(a, min(a + rows, N), device=DEV, dtype=torch.int32)[:, None]
        out[a:a + rows] = mod(0, 0, q, kv)
    return out


def masked_sdpa(mask):
    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        assert attn_mask is None and not is_causal and q.shape[2] == mask.shape[0], "the reference takes the models' plain calls only"
        out = torch.empty_like(q)
        for a in range(0, q.shape[2], REF_CHUNK):
            out[:, :, a:a + REF_CHUNK] = SDPA(q[:, :, a:a + REF_CHUNK], k, v, attn_mask=mask[a:a + REF_CHUNK], scale=scale)
        return out
    return sdpa


def flex_sdpa(block_mask, kernel):
    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        return kernel(q, k, v, block_mask=block_mask, scale=scale)
    return sdpa


@contextlib.contextmanager
def blocks_compiled(model, on):
    """Regional compilation: each block module replaced by torch.compile(block) inside (all blocks of
    a class share one compiled graph), restored after. Dynamo starts afresh, so compile time and
    graph breaks are this configuration's own."""
    if not on:
        yield
        return
    import torch._dynamo
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    lists = [model.double_blocks, model.single_blocks]
    saved = [list(lst) for lst in lists]
    for lst in lists:
        for i, b in enumerate(list(lst)):
            lst[i] = torch.compile(b, dynamic=False)
    try:
        yield
    finally:
        for lst, orig in zip(lists, saved):
            for i, b in enumerate(orig):
                lst[i] = b


def graph_breaks():
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return None, []
    gb = counters.get("graph_break", {})
    return sum(gb.values()), [str(k)[:160] for k in list(gb)[:3]]


# ---------------- timing ----------------
def measure(fwd, reps=REPS):
    """First call (wall clock, compile included), then up to `reps` event-timed forwards (fewer when
    one takes more than REP_BUDGET_S / reps). Returns out (fp32), first_s, [ms], peak GiB."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = fwd()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    out = out.float()
    times, n = [], reps
    while len(times) < n:
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fwd()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
        if len(times) == 1:
            n = max(1, min(reps, int(REP_BUDGET_S * 1000 / max(times[0], 1e-3))))
    return out, first, times, torch.cuda.max_memory_allocated() / 2 ** 30


def compare(out, ref):
    if ref is None:
        return {}
    d = (out - ref)
    return {"rel_l2_vs_ref": (d.norm() / ref.norm()).item(), "max_abs_vs_ref": d.abs().max().item()}


def median(xs):
    return sorted(xs)[len(xs) // 2] if xs else float("nan")


def pick_dense_backend(N, heads, head_dim):
    """cuDNN or flash, whichever runs one [1, heads, N, head_dim] SDPA call faster here:
    (name, SDPBackend, {name: ms per call or None where it refused})."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q, k, v = (torch.randn(1, heads, N, head_dim, device=DEV, dtype=torch.bfloat16) for _ in range(3))
    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION}
    probe = {}
    for name, be in backends.items():
        try:
            with sdpa_kernel([be]):
                SDPA(q, k, v)
                torch.cuda.synchronize()
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                for _ in range(2):
                    SDPA(q, k, v)
                e.record()
                e.synchronize()
                probe[name] = s.elapsed_time(e) / 2
        except Exception as ex:  # a backend that refuses this size or card
            probe[name] = None
            print(f"dense: {name} failed at {N} tokens: {str(ex)[:200]}")
    del q, k, v
    free()
    ok = [(t, n) for n, t in probe.items() if t is not None]
    if not ok:
        raise RuntimeError(f"neither cuDNN nor flash SDPA runs at {N} tokens")
    best = min(ok)[1]
    return best, backends[best], probe


# ---------------- one configuration ----------------
def run_config(row, model, fwd, setup, compiled, ref, timed=True):
    """Times fwd() with the attention `setup` (a context manager factory) and blocks compiled or not;
    fills and records `row`. Returns the output (fp32) or None. timed=False: one forward only."""
    row["compiled"] = compiled
    if time.time() - T_START > TIME_BUDGET_S:
        row["skipped"] = f"time budget ({TIME_BUDGET_S:.0f} s) spent"
        RESULTS["rows"].append(row)
        print(f"skip {row['shape']} {row.get('pattern', '')} {row['method']} {'compiled' if compiled else 'eager'}: time budget")
        save()
        return None
    label = f"{row['shape']} {row.get('pattern', '-')} {row['method']} {'compiled' if compiled else 'eager'}"
    out = None
    try:
        with torch.no_grad(), setup() as info, blocks_compiled(model, compiled):
            out, first, times, peak = measure(fwd, REPS if timed else 0)
            row["forwards"] = 1 + len(times)
            if info:
                row.update(info() if callable(info) else info)
            if compiled:
                row["graph_breaks"], row["graph_break_reasons"] = graph_breaks()
        ms = median(times) if times else first * 1000
        row.update(forward_ms=ms, forward_ms_all=[round(t, 3) for t in times], first_call_s=round(first, 2),
                   compile_s=round(max(0.0, first - ms / 1000), 2) if compiled or row["method"].startswith("flex") else None,
                   peak_gib=round(peak, 1))
        if "plug_calls_taken" in row:  # every attention call of every forward ran the kernel
            expected = row["forwards"] * row["attention_calls_per_forward"]
            row["plug_all_taken"] = row["plug_calls_taken"] == expected
            if not row["plug_all_taken"]:  # eager: some calls ran dense, the time is not gratc's; compiled: the count may be Dynamo's
                why = f"the plug counted {row['plug_calls_taken']} of {expected} attention calls taken"
                row["error" if not compiled else "warning"] = why + (": the rest ran dense SDPA" if not compiled else "")
        row.update(compare(out, ref))
        extra = f"  rel diff vs masked ref {row['rel_l2_vs_ref']:.2e}" if "rel_l2_vs_ref" in row else ""
        print(f"{label}: {ms:.1f} ms (first call {first:.1f} s{', compile ~%.0f s' % row['compile_s'] if row['compile_s'] is not None else ''}){extra}", flush=True)
    except Exception as ex:
        row["error"] = f"{type(ex).__name__}: {str(ex)[:600]}"
        print(f"{label}: FAILED {row['error']}")
        traceback.print_exc(limit=4)
        out = None
    RESULTS["rows"].append(row)
    save()
    free()
    return out


def no_setup():
    return contextlib.nullcontext()


# ---------------- the run ----------------
_models = {}


def get_model(family):
    if family not in _models:
        _models.clear()
        free()
        t0 = time.time()
        d = DEPTH[family]
        _models[family] = MODELS[family].build(depth=d, seed=SEED, device=DEV)
        torch.cuda.synchronize()
        n = sum(p.numel() for p in _models[family].parameters())
        print(f"{family}: {d[0]} double + {d[1]} single blocks, {n / 1e9:.2f} G parameters, built in {time.time() - t0:.1f} s", flush=True)
        if d != FULL_DEPTH[family]:
            note(f"{family} ran with {d[0]} double + {d[1]} single blocks, not the full {FULL_DEPTH[family][0]} + {FULL_DEPTH[family][1]}")
    return _models[family]


def main():
    mods, builds = [], []
    if "gratc" in METHODS:
        for folder in module_folders():
            try:
                mods.append(import_module(folder))
            except Exception as ex:
                note(f"gratc module {folder} not usable: {type(ex).__name__}: {str(ex)[:300]}")
        needed = []
        for s in SHAPES:
            for letter in PATTERNS:
                m = pick_module(mods, masks.PATTERNS[shape_table.pattern_name(s, letter)], s.grid)
                if m is not None and m not in needed:
                    needed.append(m)
        print(f"gratc: {len(mods)} modules found, {len(needed)} needed; building their kernels in the background", flush=True)
        builds = build_in_background(needed)

    def builds_done():
        while builds:
            rec = builds.pop(0).result()
            RESULTS["builds"].append(rec)
            print(f"build {rec['module']}: {'ok' if rec['ok'] else 'FAILED'} in {rec['seconds']} s" + ("" if rec["ok"] else "\n" + rec["log"]))
            save()

    import torch._dynamo
    for key in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, key):
            setattr(torch._dynamo.config, key, 64)
    if hasattr(torch._dynamo.config, "inline_inbuilt_nn_modules"):  # one graph for all blocks of a class (the default since 2.5)
        torch._dynamo.config.inline_inbuilt_nn_modules = True
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    for shape in SHAPES:
        model = get_model(shape.model)
        c = model.config
        fam = MODELS[shape.model]
        inp = fam.inputs(c, shape.grid, seed=SEED + 1, device=DEV)
        M = math.prod(shape.grid)
        N = M + c.text_tokens
        base = {"shape": shape.name, "model": shape.model, "grid": list(shape.grid), "tokens": N,
                "depth": list(DEPTH[shape.model]), "full_depth": DEPTH[shape.model] == FULL_DEPTH[shape.model]}
        print(f"\n=== {shape.name}: grid {'x'.join(map(str, shape.grid))}, {N} tokens ({shape.what}) ===", flush=True)
        fwd = lambda: model(**inp)  # noqa: E731
        dense_out = {}
        if "dense" in METHODS:
            try:
                best, backend, probe = pick_dense_backend(N, c.heads, c.head_dim)
                RESULTS["dense_backend"].append({"shape": shape.name, "tokens": N, "ms_per_call": probe, "chosen": best})
                print(f"dense backend: {best} (ms per attention call: {probe})")
                from torch.nn.attention import sdpa_kernel
                setup = lambda: _with_info(sdpa_kernel([backend]), {"backend": best})  # noqa: E731
            except Exception as ex:
                note(f"{shape.name}: dense backend probe failed ({ex}); SDPA's own choice")
                setup = no_setup
            for comp in COMPILE:
                dense_out[comp] = run_config(dict(base, method="dense"), model, fwd, setup, comp, None)
        for letter in PATTERNS:
            pattern = masks.PATTERNS[shape_table.pattern_name(shape, letter)]
            valid = max(0, min(int(TEXT_VALID) if TEXT_VALID else DEFAULT_VALID[shape.model], pattern.text))
            pbase = dict(base, pattern=pattern.name, text_valid=valid)
            ref = None
            if REF:
                row = dict(pbase, method="reference (SDPA, boolean mask)")
                try:
                    t0 = time.time()
                    mask = dense_mask(pattern, shape.grid, valid)
                    torch.cuda.synchronize()
                    row["mask_build_s"] = round(time.time() - t0, 2)
                    row["density"] = _density(mask)
                    ref = run_config(row, model, fwd, lambda: flux_model.sdpa_replaced(masked_sdpa(mask)), False, None, timed=False)
                    del mask
                except Exception as ex:
                    note(f"{shape.name} {pattern.name}: no masked reference ({type(ex).__name__}: {str(ex)[:300]})")
                    RESULTS["rows"].append(dict(row, error=str(ex)[:600]))
                free()
                for comp, o in dense_out.items():  # how far the pattern is from full attention, for scale
                    if o is not None and ref is not None:
                        for r in RESULTS["rows"]:
                            if r["shape"] == shape.name and r["method"] == "dense" and r["compiled"] == comp:
                                r.setdefault("vs_ref", {})[pattern.name] = compare(o, ref)
            # gratc before Flex: the rows the issue's targets are about land first if the time budget runs out
            if "gratc" in METHODS:
                m = pick_module(mods, pattern, shape.grid)
                if m is None:
                    note(f"{shape.name} {pattern.name}: no gratc module for grid {shape.grid} among {len(mods)} (run bench/pipeline/emit.sh)")
                else:
                    builds_done()
                    for comp in COMPILE:
                        run_config(dict(pbase, method="gratc"), model, fwd, lambda m=m: _plugged(m, model, shape.grid, valid), comp, ref)
            for method in [m for m in ("flex", "flexg") if m in METHODS]:
                perm = None
                kin = inp
                if method == "flexg":
                    sp = masks.sequence_permutation(pattern, shape.grid, np)
                    perm = torch.from_numpy(sp).to(DEV)
                    img = torch.from_numpy(sp[pattern.text:] - pattern.text if pattern.text_place == "before" else sp[:M]).to(DEV)
                    inv = torch.argsort(img)
                    kin = dict(inp, img=inp["img"][:, img], img_ids=inp["img_ids"][:, img])
                try:
                    t0 = time.time()
                    bm = create_block_mask(masks.mask_mod(pattern, shape.grid, valid, perm=perm), B=None, H=None, Q_LEN=N, KV_LEN=N,
                                           device=DEV, _compile=True)
                    torch.cuda.synchronize()
                    bm_rec = {"shape": shape.name, "pattern": pattern.name, "order": "grouped" if perm is not None else "raster",
                              "build_s": round(time.time() - t0, 2), "block_density": round(1 - bm.sparsity() / 100, 4)}
                    RESULTS["block_masks"].append(bm_rec)
                    print(f"flex block mask ({bm_rec['order']}): {bm_rec['build_s']} s, block density {bm_rec['block_density']}")
                except Exception as ex:
                    note(f"{shape.name} {pattern.name} {method}: no block mask ({type(ex).__name__}: {str(ex)[:300]})")
                    continue
                mfwd = fwd if perm is None else (lambda kin=kin, inv=inv: model(**kin)[:, inv])
                for comp in COMPILE:
                    # eager model: the flex kernel compiled on its own (FlexAttention unfused is a reference, N^2 memory)
                    kernel = flex_attention if comp else torch.compile(flex_attention, dynamic=False)
                    info = {"block_mask_build_s": bm_rec["build_s"], "block_density": bm_rec["block_density"], "order": bm_rec["order"]}
                    run_config(dict(pbase, method=method), model, mfwd,
                               lambda kernel=kernel, info=info: _with_info(flux_model.sdpa_replaced(flex_sdpa(bm, kernel)), info), comp, ref)
                del bm
                free()
        del inp
        free()
    builds_done()
    summarize()


def _density(mask):
    return sum(mask[a:a + 4096].sum().item() for a in range(0, mask.shape[0], 4096)) / mask.shape[0] ** 2


@contextlib.contextmanager
def _with_info(ctx, info):
    with ctx:
        yield info


@contextlib.contextmanager
def _plugged(m, model, grid, valid):
    """grat.plug on the model: grid and strict where the loader takes them (run-time grid loaders),
    else the grid-bound loader's plug(model, text_valid)."""
    params = inspect.signature(m.plug).parameters
    kw = {"text_valid": valid}
    if "grid" in params:
        kw["grid"] = tuple(grid)
    if "strict" in params:
        kw["strict"] = True
    p = m.plug(model, **kw)
    calls = lambda: p.stats["taken"] if hasattr(p, "stats") else p.calls  # noqa: E731
    start = calls()
    info = {"module": os.path.relpath(m.E2E_FOLDER, ROOT), "kernel": m.KERNEL, "run_time_grid": any(g is None for g in m.GRID),
            "plug_kwargs": sorted(kw)}
    try:
        yield lambda: dict(info, plug_calls_taken=calls() - start, plug_stats=getattr(p, "stats", None),
                           attention_calls_per_forward=model.attention_calls)
    finally:
        p.remove()


# ---------------- summary ----------------
def summarize():
    rows = RESULTS["rows"]

    def find(shape, method, comp, pattern=None):
        for r in rows:
            if r["shape"] == shape and r["method"] == method and r.get("compiled") == comp and "forward_ms" in r and "error" not in r \
                    and (pattern is None or r.get("pattern") == pattern):
                return r
        return None

    for r in rows:
        if "forward_ms" not in r or "error" in r or r["method"] not in ("flex", "flexg", "gratc"):
            continue
        d = find(r["shape"], "dense", r["compiled"])
        if d:
            r["speedup_vs_dense"] = d["forward_ms"] / r["forward_ms"]
        if r["method"] == "gratc":
            for fm in ("flex", "flexg"):
                f = find(r["shape"], fm, r["compiled"], r["pattern"])
                if f:
                    r[f"speedup_vs_{fm}"] = f["forward_ms"] / r["forward_ms"]
    save()
    cols = [("shape", 15), ("pattern", 15), ("method", 10), ("mode", 8), ("fwd ms", 9), ("1st s", 6), ("vs dense", 8),
            ("vs flex", 7), ("vs flexg", 8), ("rel diff", 9), ("breaks", 6)]
    hdr = " ".join(f"{n:>{w}s}" if i > 3 else f"{n:{w}s}" for i, (n, w) in enumerate(cols)) + "  notes"
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for r in rows:
        def cell(key, fmt, width):
            return (fmt % r[key]).rjust(width) if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool) else "-".rjust(width)
        method = "reference" if r["method"].startswith("reference") else r["method"]
        mode = "compiled" if r.get("compiled") else "eager"
        notes = r.get("error") or r.get("skipped") or ", ".join(x for x in (
            r.get("warning"),
            r.get("backend") and f"backend {r['backend']}",
            r.get("order") == "grouped" and "grouped order",
            "block_density" in r and f"blocks {r['block_density']:.3f}",
            "density" in r and f"density {r['density']:.4f}",
            r.get("run_time_grid") is not None and ("run-time grid" if r["run_time_grid"] else "grid-bound"),
            not r.get("full_depth", True) and f"depth {r['depth'][0]}+{r['depth'][1]}",
        ) if x)
        print(f"{r['shape']:15s} {r.get('pattern', '-'):15s} {method:10s} {mode:8s} {cell('forward_ms', '%.1f', 9)} {cell('first_call_s', '%.1f', 6)} "
              f"{cell('speedup_vs_dense', '%.2fx', 8)} {cell('speedup_vs_flex', '%.2fx', 7)} {cell('speedup_vs_flexg', '%.2fx', 8)} "
              f"{cell('rel_l2_vs_ref', '%.2e', 9)} {cell('graph_breaks', '%d', 6)}  {notes}")
    for n in RESULTS["notes"]:
        print("note:", n)
    print(f"\nwrote {os.path.join(OUT, 'e2e.json')} ({time.time() - T_START:.0f} s in all)")


def context_lost(ex):
    """A sticky CUDA error (an illegal memory access: PyTorch 2.11's FlexAttention at HunyuanVideo 720p's
    119,056 tokens) leaves the process no usable GPU: nothing after it can run here."""
    return isinstance(ex, getattr(torch, "AcceleratorError", ())) or "illegal memory access" in str(ex)


if __name__ == "__main__":
    try:
        main()
    except Exception as ex:
        if not context_lost(ex):
            raise
        # keep what was measured: the rows so far, the failed one, and why the rest did not run
        note(f"CUDA context lost ({type(ex).__name__}: {str(ex).splitlines()[0][:200]}); the configurations after it did not run: "
             "run them in another process (e.g. Flex of that shape on its own)")
        summarize()
        sys.exit(3)
