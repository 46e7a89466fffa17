"""Issue 20, precision int8 on an sm_90a card (H100/H200): correctness and speed of the int8 kernel.

Reads .gen/cuda/int8/manifest.json (written here by `node dist/bench/cuda/int8_cases.js`: each case is a
package with the 16-bit kernels and the int8 sm_90a one: attention(..., precision="int8")).
  check: every check case (ragged grids, text valid < count and 0, both orders), bf16 inputs, fresh
    Gaussian q, k, v, and with outlier channels (4 channels of Q and of K offset by 20 sigma), against
    the fp32 dense-masked reference: relative L1 <= 3 % and cosine >= 0.999 (the issue's bar), nothing
    unwritten; the 16-bit kernel beside it on the same inputs for scale.
  bench: Flux 8192² and HunyuanVideo 720p, GRAT-B and X, raster and grouped: the int8 forward (its
    pre-pass included: every call quantizes), our bf16 kernel and FlexAttention bf16, interleaved
    rounds, effective TFLOP/s on the pattern's computed pairs (flopsPerHead: 4·D per visible pair).
Usage (device): OUT=$OUT python bench/cuda/attn8_check.py [check] [bench]   (SELECT=substr filters cases)
Writes $OUT/attn8_<card>.json. timeit and the FlexAttention mask mirror bench/cuda/run.py's (run.py reads
its own manifest when imported).
"""
import json
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F

import gratmod  # noqa: E402  (bench/cuda/gratmod.py)
import maskfile  # noqa: E402  (bench/cuda/maskfile.py)
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import provenance  # noqa: E402  (bench/provenance.py)

ROOT = ".gen/cuda/int8"
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
PHASES = set(sys.argv[1:]) or {"check", "bench"}
MANIFEST = json.load(open(os.path.join(ROOT, "manifest.json")))
SELECT = os.environ.get("SELECT")
if SELECT:
    MANIFEST = [c for c in MANIFEST if any(s in c["name"] for s in SELECT.split(","))]
dev = "cuda"
results = {**provenance.header(), "check": [], "bench": []}
REL_L1_BAR, COSINE_BAR = 0.03, 0.999


def save():
    card = torch.cuda.get_device_name().replace(" ", "_")
    with open(os.path.join(OUT, f"attn8_{card}.json"), "w") as fh:
        json.dump(results, fh, indent=1)


def module(c):
    """The case's package, imported under its own name."""
    return gratmod.load(c["pkg"], c["module"], c["name"])


def metrics(o, ref):
    o, ref = o.double().flatten(), ref.double().flatten()
    rel_l1 = ((o - ref).abs().sum() / ref.abs().sum().clamp_min(1e-30)).item()
    cos = (o @ ref / (o.norm() * ref.norm()).clamp_min(1e-30)).item()
    return rel_l1, cos


def inputs(B, H, N, D, outliers, gen):
    q, k, v = (torch.randn(B, H, N, D, device=dev, generator=gen) for _ in range(3))
    if outliers:
        for x in (q, k):
            ch = torch.randperm(D, device=dev, generator=gen)[:4]
            sign = torch.where(torch.rand(4, device=dev, generator=gen) < 0.5, -1.0, 1.0)
            x[..., ch] += 20.0 * sign
    return (x.to(torch.bfloat16) for x in (q, k, v))


def check_case(c):
    m = module(c)
    N, D, scale = c["tokens"], c["headDim"], c["scale"]
    B, H = 2, 3
    gen = torch.Generator(device=dev)
    gen.seed()
    for valid in c["valids"]:
        mask = maskfile.load_mask(os.path.join(c["dir"], f"mask_v{valid}.bin.gz"), N, dev)
        empty = ~mask.any(-1)
        for outliers in (False, True):
            q, k, v = inputs(B, H, N, D, outliers, gen)
            ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=scale)
            ref = ref.masked_fill(empty[None, None, :, None], 0.0)
            row = dict(case=c["name"], valid=valid, outliers=outliers)
            for tag, precision in (("int8", "int8"), ("bf16", None)):
                out = torch.full_like(q, float("nan"))
                o = m.attention(q, k, v, text_valid=valid, out=out, arch="sm90a", precision=precision)
                torch.cuda.synchronize()
                unwritten = int(torch.isnan(o).sum().item())
                rel_l1, cos = metrics(o, ref) if unwritten == 0 else (float("nan"), float("nan"))
                row.update({f"{tag}_rel_l1": rel_l1, f"{tag}_cosine": cos, f"{tag}_unwritten": unwritten})
            row["ok"] = row["int8_unwritten"] == 0 and row["int8_rel_l1"] <= REL_L1_BAR and row["int8_cosine"] >= COSINE_BAR
            results["check"].append(row)
            print(f"check {c['name']:28s} valid={valid:4d} {'outliers' if outliers else 'gauss   '} int8 rel L1 {100 * row['int8_rel_l1']:.2f} % "
                  f"cos {row['int8_cosine']:.5f} | bf16 {100 * row['bf16_rel_l1']:.2f} % {'ok' if row['ok'] else 'FAIL'}")
        del mask
    torch.cuda.empty_cache()


def flex_block_mask(c, N):
    """The pattern's mask as a FlexAttention mask_mod (full groups, all text valid); as run.py's."""
    from torch.nn.attention.flex_attention import create_block_mask
    grid, group, text, place = c["grid"], c["group"], c["text"], c["textPlace"]
    ng = [s // g for s, g in zip(grid, group)]
    G, M = math.prod(group), math.prod(grid)
    off = text if place == "before" else 0

    def coords(g):
        out = []
        for n in reversed(ng):
            out.append(g % n)
            g = g // n
        return out[::-1]

    def mod(b, h, qi, ki):
        q_img, k_img = (qi >= off) & (qi < off + M), (ki >= off) & (ki < off + M)
        qc, kc = coords((qi - off) // G), coords((ki - off) // G)
        if c["pattern"] == "grat_b":
            img = (qc[0] - kc[0]).abs() <= 1
            for a in range(1, len(qc)):
                img = img & ((qc[a] - kc[a]).abs() <= 1)
        else:
            img = qc[0] == kc[0]
            for a in range(1, len(qc)):
                img = img | (qc[a] == kc[a])
        return (q_img & k_img & img) | (q_img & ~k_img) | ~q_img

    return create_block_mask(mod, B=None, H=None, Q_LEN=N, KV_LEN=N, device=dev, _compile=True)


def interleaved(fns, rounds=5, reps=5):
    """Median ms of each fn over rounds in turn (each round: reps event-timed calls after one warm-up)."""
    times = {k: [] for k in fns}
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(rounds):
        for k, fn in fns.items():
            fn()
            for _ in range(reps):
                s.record(); fn(); e.record(); e.synchronize()
                times[k].append(s.elapsed_time(e))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_case(c):
    from torch.nn.attention.flex_attention import flex_attention
    m = module(c)
    N, D, H = c["tokens"], c["headDim"], 24
    q, k, v = (torch.randn(1, H, N, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    o16, o8 = torch.empty_like(q), torch.empty_like(q)
    fns = {"int8": lambda: m.attention(q, k, v, out=o8, precision="int8"), "bf16": lambda: m.attention(q, k, v, out=o16, arch="sm90a")}
    try:
        flex = torch.compile(flex_attention, dynamic=False)
        bm = flex_block_mask(c, N)
        fns["flex"] = lambda: flex(q, k, v, block_mask=bm)
    except Exception as ex:  # (ragged or unsupported: no FlexAttention row)
        print("flex failed:", ex)
    t = interleaved(fns)
    flops = c["flopsPerHead"] * H
    row = dict(case=c["name"], shape=c["shape"], pattern=c["pattern"], order=c["order"], tokens=N, heads=H, density=c["density"],
               **{f"{k}_ms": x for k, x in t.items()}, **{f"{k}_tflops": flops / x / 1e9 for k, x in t.items()})
    row["int8_over_bf16"] = t["bf16"] / t["int8"]
    if "flex" in t:
        row["int8_over_flex"] = t["flex"] / t["int8"]
    _, cos = metrics(o8, o16)
    row["cosine_to_bf16"] = cos
    results["bench"].append(row)
    print(f"bench {c['name']:30s} int8 {row['int8_tflops']:7.1f} TFLOP/s  bf16 {row['bf16_tflops']:7.1f}  flex {row.get('flex_tflops', float('nan')):7.1f}  "
          f"int8/bf16 {row['int8_over_bf16']:.2f}x  int8/flex {row.get('int8_over_flex', float('nan')):.2f}x  cos(int8, bf16) {cos:.5f}")


def main():
    if torch.cuda.get_device_capability() != (9, 0):
        sys.exit(f"attn8_check: precision int8 needs an sm_90a card (H100/H200); this is {torch.cuda.get_device_name()}")
    if "check" in PHASES:
        for c in [c for c in MANIFEST if c["kind"] == "check"]:
            check_case(c)
            save()
    if "bench" in PHASES:
        for c in [c for c in MANIFEST if c["kind"] == "bench"]:
            bench_case(c)
            save()
    bad = [r for r in results["check"] if not r["ok"]]
    print(f"checks: {len(results['check']) - len(bad)} ok, {len(bad)} failed")
    save()


if __name__ == "__main__":
    main()
