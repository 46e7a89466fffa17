"""The generated package's multi-GPU code (_parallel.py) on the CPU: torch.distributed over gloo,
one process per rank, with a float64 stand-in for each launch.
    <python with torch> parallel_checks.py <config.json>
config: {"folder": the package's folder, "module": its name, "masks": {"<valid>": .npy path} (uint8
         [N, N], compiler/reference.ts's denseMask at that valid text length), "groups": .npy path
         (int32 [N]: the query group of each image token, -1 for text), "worlds": [..], "port": n}
Run by test/cuda.parallel_cpu.test.ts; prints 'ok N' after N passing checks, else the failures.

What runs is the package's own Parallel (ulysses, spatial, auto, bytes_sent) and its spatial plans;
only the launches are replaced: attention() and launch_part() compute, from the dense mask of the
definition, exactly the rows the C entry points would (a part's query groups, or the text queries
over one band's keys with the lse), reading K/V through the same raw pointers and strides, so a K/V
row the plan failed to send shows up: every scratch buffer starts as NaN. Each rank checks its share
of the output against float64 attention of the whole sequence, and the bytes it sent against
bytes_sent()'s prediction.
"""
import ctypes
import datetime
import importlib
import json
import math
import os
import sys
import traceback
import types

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

CFG = json.load(open(sys.argv[1]))
B, H = 2, 4
DT = torch.float16
ES = 2


def load():
    sys.path.insert(0, CFG["folder"])
    g = importlib.import_module(CFG["module"])
    masks = {int(v): torch.from_numpy(np.load(p).astype(bool)) for v, p in CFG["masks"].items()}
    groups = torch.from_numpy(np.load(CFG["groups"]).astype(np.int64))
    return g, masks, groups


def masked(q, k, v, mask, scale):
    """float64 attention of [B, H, n, D] q over [B, H, m, D] k, v with an [n, m] (or [B, 1, n, m]) mask: (out, lse);
    rows that see nothing give 0 and lse -inf (as the kernels)."""
    s = (q.double() @ k.double().transpose(-1, -2)) * scale
    s = s.masked_fill(~mask, -math.inf)
    lse = torch.logsumexp(s, -1)
    return torch.exp(s - lse[..., None]).nan_to_num(0.0) @ v.double(), lse


def at(ptr, dtype, rows, strides, D):
    """The [B, H, len(rows) span, D] tensor whose token t (of the whole sequence) is at
    ptr + (b*sb + h*sh + t*st) elements, for tokens min(rows)..max(rows): what a launch may touch."""
    sb, sh, st = strides
    es = torch.empty((), dtype=dtype).element_size()
    t0, t1 = int(rows.min()), int(rows.max()) + 1
    span = (B - 1) * sb + (H - 1) * sh + (t1 - t0 - 1) * st + D
    buf = (ctypes.c_char * (span * es)).from_address(ptr + t0 * st * es)
    flat = torch.frombuffer(buf, dtype=torch.uint8).view(dtype)
    return flat.as_strided((B, H, t1 - t0, D), (sb, sh, st, 1)), t0


class StandIns:
    """The launches, computed in float64 from the definition's mask."""

    def __init__(self, g, masks, groups):
        self.g, self.masks, self.groups = g, masks, groups
        self.N = groups.numel()

    def masks_of(self, valid):
        """[B, 1, N, N] masks: valid is None (all), a count, or a [B] tensor of counts (per sample)."""
        per = valid.tolist() if isinstance(valid, torch.Tensor) else [self.g.TEXT_COUNT if valid is None else int(valid)] * B
        return torch.stack([self.masks[min(max(n, 0), self.g.TEXT_COUNT)] for n in per])[:, None]

    def attention(self, q, k, v, text_valid=None, scale=None, out=None, **_):
        """attention() of the single-GPU package on [B, h, N, D] views (the Ulysses path)."""
        o, _ = masked(q, k, v, self.masks_of(text_valid), self.g.SCALE if scale is None else scale)
        out.copy_(o.to(out.dtype))
        return out

    def launch_part(self, dtype, device, ptrs, strides, batch, heads, text_valid, scale, part, arch=None):
        """KERNEL_forward_part: part = (text, first_group, groups, grid_lo, grid_len)."""
        g, D = self.g, self.g.HEAD_DIM
        assert (batch, heads) == (B, H) and dtype == DT
        text, first, count, grid_lo, grid_len = (int(x) for x in part)
        mask = self.masks_of(text_valid)  # [B, 1, N, N]
        if text:
            rows = torch.arange(g.TEXT_OFFSET, g.TEXT_OFFSET + g.TEXT_COUNT)
            # the text queries see the band [grid_lo, grid_lo + grid_len) of the grid, and the text
            band = torch.zeros(self.N, dtype=torch.bool)
            band[g.IMAGE_OFFSET + grid_lo:g.IMAGE_OFFSET + grid_lo + grid_len] = True
            band[g.TEXT_OFFSET:g.TEXT_OFFSET + g.TEXT_COUNT] = True
            m = mask[:, :, rows] & band
        else:
            rows = torch.nonzero((self.groups >= first) & (self.groups < first + count)).flatten()
            m = mask[:, :, rows]
        if rows.numel() == 0:
            return
        keys = torch.nonzero(m.any(0).any(0).any(0)).flatten()
        qp, q0 = at(ptrs[0], dtype, rows, strides[0:3], D)
        kall = torch.arange(self.N)
        kp, _ = at(ptrs[1], dtype, kall, strides[3:6], D)
        vp, _ = at(ptrs[2], dtype, kall, strides[6:9], D)
        op, o0 = at(ptrs[3], dtype, rows, strides[9:12], D)
        o, lse = masked(qp[:, :, rows - q0], kp[:, :, keys], vp[:, :, keys], m[..., keys], scale)
        op[:, :, rows - o0] = o.to(dtype)
        if ptrs[4] is not None:  # lse: float [B, H, N]
            buf = (ctypes.c_char * (B * H * self.N * 4)).from_address(ptrs[4])
            torch.frombuffer(buf, dtype=torch.uint8).view(torch.float32).view(B, H, self.N)[:, :, rows] = lse.float()


class _Stream:
    """torch.cuda's stream calls, as no-ops on the CPU (launches run in order there)."""
    def __init__(self, *a, **k): pass
    def wait_stream(self, other): pass
    def __enter__(self): return self
    def __exit__(self, *a): return False


def namespace(g, s):
    """The loader's namespace as _api._parallel() builds it, with the stand-in launches."""
    return types.SimpleNamespace(
        KERNEL=g.KERNEL, DEVICE_TYPES=("cpu",), TOKENS=g.TOKENS, TEXT_COUNT=g.TEXT_COUNT, TEXT_OFFSET=g.TEXT_OFFSET,
        TEXT_QUERIES=g.TEXT_QUERIES, HEAD_DIM=g.HEAD_DIM, SCALE=g.SCALE, _DTYPES=g._DTYPES, _usable=lambda x: True,
        _text_valid=importlib.import_module(CFG["module"] + "._api")._text_valid,
        attention=s.attention, copy_rows=lambda src, dst: dst.copy_(src), launch_part=s.launch_part,
        spatial_plan=g.spatial_plan, parallel_bounds=g.parallel_bounds)


def rank_main(rank, world, port, failures):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))  # a plan whose sends and receives disagree hangs: fail instead
    torch.cuda.current_stream = lambda *a, **k: _Stream()
    torch.cuda.Stream = _Stream
    torch.cuda.stream = lambda s: s
    g, masks, groups = load()
    par = importlib.import_module(CFG["module"] + "._parallel")
    s = StandIns(g, masks, groups)
    P = par.Parallel(namespace(g, s))
    fresh = P._buffer
    P._buffer = lambda name, shape, dtype, device: fresh(name, shape, dtype, device).fill_(float("nan"))  # poison every scratch buffer
    N, D, ok, bad = g.TOKENS, g.HEAD_DIM, 0, []
    gen = torch.Generator().manual_seed(1234)
    q, k, v = (torch.randn(B, H, N, D, generator=gen).to(DT) for _ in range(3))
    k[:, :, ::7] *= 4  # spiky keys
    per_sample = torch.tensor([g.TEXT_COUNT, 0] if g.TEXT_COUNT else [0, 0], dtype=torch.int32)  # CFG: a prompt and an empty one
    for valid in [*sorted({g.TEXT_COUNT, g.TEXT_COUNT // 2, 0}), per_sample]:
        want, _ = masked(q, k, v, s.masks_of(valid), g.SCALE)
        modes = ["ulysses"] if "error" in (g.SPATIAL_PLANS.get(str(world)) or {"error": 1}) else ["ulysses", "spatial", "auto"]
        for mode in modes:
            for layout in ("bhnd", "bnhd"):
                what = f"world {world} rank {rank} {mode} {layout} valid {valid.tolist() if isinstance(valid, torch.Tensor) else valid}"
                try:
                    s0, s1 = g.parallel_bounds(world, mode)[rank]
                    share = lambda x: (x[:, :, s0:s1] if layout == "bhnd" else x[:, :, s0:s1].transpose(1, 2)).contiguous()
                    stats = {}
                    if mode == "ulysses" and H % world:
                        continue
                    fn = {"ulysses": lambda *a: P.ulysses(*a, None, stats), "spatial": lambda *a: P.spatial(*a, stats),
                          "auto": lambda *a: P.auto(*a, stats)}[mode]
                    out = fn(share(q), share(k), share(v), None, layout, valid, None)
                    got = out if layout == "bhnd" else out.transpose(1, 2)
                    ref = want[:, :, s0:s1]
                    err = (got.double() - ref).abs().max().item()
                    if not math.isfinite(err) or err > 2e-3:
                        bad.append(f"{what}: max |out - reference| {err:.3g}")
                        continue
                    predicted = P.bytes_sent(world, rank, B, H, ES)[stats["mode"]]
                    if stats["bytes_sent"] != predicted:
                        bad.append(f"{what}: sent {stats['bytes_sent']} bytes, bytes_sent() predicts {predicted}")
                        continue
                    ok += 1
                except Exception:
                    bad.append(f"{what}: {traceback.format_exc()}")
    failures.put((rank, ok, bad))
    dist.barrier()
    dist.destroy_process_group()


def main():
    total, bad = 0, []
    ctx = mp.get_context("spawn")
    for i, world in enumerate(CFG["worlds"]):
        failures = ctx.SimpleQueue()
        mp.start_processes(rank_main, args=(world, CFG["port"] + i, failures), nprocs=world, start_method="spawn")
        for _ in range(world):
            _, ok, b = failures.get()
            total += ok
            bad += b
    if bad:
        print("\n".join(bad))
        sys.exit(1)
    print(f"ok {total}")


if __name__ == "__main__":
    main()
