"""The generated package's multi-GPU code (_parallel.py) on the CPU: torch.distributed over gloo,
one process per rank, with a float64 stand-in for each launch.
    <python with torch> parallel_checks.py <config.json>
config: {"folder": the package's folder, "module": its name, "worlds": [..], "port": n,
         "sizes": [{"grid": [..] or null (the compiled sizes), "text": n or null, "masks": {"<valid>":
         .npy path} (uint8 [N, N], compiler/reference.ts's denseMask at that valid text length),
         "groups": .npy path (int32 [N]: the query group of each image token, -1 for text)}]}
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
    """The package, its _api and _parallel modules."""
    sys.path.insert(0, CFG["folder"])
    mod = lambda m: importlib.import_module(CFG["module"] + m)
    return mod(""), mod("._api"), mod("._parallel")


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
    """The launches at one call's sizes, computed in float64 from the definition's mask."""

    def __init__(self, geo, case, head_dim, scale):
        self.geo, self.D, self.scale = geo, head_dim, scale
        self.masks = {int(v): torch.from_numpy(np.load(p).astype(bool)) for v, p in case["masks"].items()}
        self.groups = torch.from_numpy(np.load(case["groups"]).astype(np.int64))
        self.N, self.T = geo.tokens, geo.text_count

    def masks_of(self, valid):
        """[B, 1, N, N] masks: valid is None (all), a count, or a [B] tensor of counts (per sample)."""
        per = valid.tolist() if isinstance(valid, torch.Tensor) else [self.T if valid is None else int(valid)] * B
        return torch.stack([self.masks[min(max(n, 0), self.T)] for n in per])[:, None]

    def attention(self, q, k, v, text_valid=None, scale=None, out=None, grid=None, text_count=None):
        """attention() of the single-GPU package on [B, h, N, D] views (the Ulysses path)."""
        assert list(grid) + [text_count] == self.geo.sizes, (grid, text_count, self.geo.sizes)
        o, _ = masked(q, k, v, self.masks_of(text_valid), self.scale if scale is None else scale)
        out.copy_(o.to(out.dtype))
        return out

    def launch_part(self, dtype, device, ptrs, strides, batch, heads, text_valid, scale, part, arch=None, sizes=None):
        """KERNEL_forward_part: part = (text, first_group, groups, grid_lo, grid_len)."""
        assert sizes == self.geo.sizes, (sizes, self.geo.sizes)
        D, TO, T = self.D, self.geo.text_offset, self.T
        assert (batch, heads) == (B, H) and dtype == DT
        text, first, count, grid_lo, grid_len = (int(x) for x in part)
        mask = self.masks_of(text_valid)  # [B, 1, N, N]
        if text:
            rows = torch.arange(TO, TO + T)
            # the text queries see the band [grid_lo, grid_lo + grid_len) of the grid, and the text
            band = torch.zeros(self.N, dtype=torch.bool)
            band[self.geo.image_offset + grid_lo:self.geo.image_offset + grid_lo + grid_len] = True
            band[TO:TO + T] = True
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


def namespace(g, api, calls):
    """The loader's namespace as _api._parallel() builds it, with the stand-in launches of the
    current call's sizes (calls["now"])."""
    return types.SimpleNamespace(
        KERNEL=g.KERNEL, DEVICE_TYPES=("cpu",), TEXT_QUERIES=g.TEXT_QUERIES, HEAD_DIM=g.HEAD_DIM, SCALE=g.SCALE,
        _DTYPES=g._DTYPES, _usable=lambda x: True, _text_valid=api._text_valid,
        attention=lambda *a, **k: calls["now"].attention(*a, **k), copy_rows=lambda src, dst: dst.copy_(src),
        launch_part=lambda *a, **k: calls["now"].launch_part(*a, **k), geometry=api.geometry)


def rank_main(rank, world, port, failures):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))  # a plan whose sends and receives disagree hangs: fail instead
    torch.cuda.current_stream = lambda *a, **k: _Stream()
    torch.cuda.Stream = _Stream
    torch.cuda.stream = lambda s: s
    g, api, par = load()
    calls = {}
    P = par.Parallel(namespace(g, api, calls))
    fresh = P._buffer
    P._buffer = lambda name, shape, dtype, device: fresh(name, shape, dtype, device).fill_(float("nan"))  # poison every scratch buffer
    D, ok, bad = g.HEAD_DIM, 0, []
    for case in CFG["sizes"]:
        grid = None if case["grid"] is None else tuple(case["grid"])
        geo = api.geometry(grid, case["text"])
        s = calls["now"] = StandIns(geo, case, D, g.SCALE)
        N, T = geo.tokens, geo.text_count
        gen = torch.Generator().manual_seed(1234 + N)
        q, k, v = (torch.randn(B, H, N, D, generator=gen).to(DT) for _ in range(3))
        k[:, :, ::7] *= 4  # spiky keys
        per_sample = torch.tensor([T, 0], dtype=torch.int32)  # CFG: a prompt and an empty one
        try:
            geo.plan(world)
            modes = ["ulysses", "spatial", "auto"]
        except ValueError:
            modes = ["ulysses"]
        for valid in [*sorted({T, T // 2, 0}), per_sample]:
            want, _ = masked(q, k, v, s.masks_of(valid), g.SCALE)
            for mode in modes:
                if mode == "ulysses" and H % world:
                    continue
                for layout in ("bhnd", "bnhd"):
                    what = f"sizes {geo.sizes} world {world} rank {rank} {mode} {layout} valid {valid.tolist() if isinstance(valid, torch.Tensor) else valid}"
                    try:
                        s0, s1 = api.parallel_bounds(world, mode, grid, case["text"])[rank]
                        share = lambda x: (x[:, :, s0:s1] if layout == "bhnd" else x[:, :, s0:s1].transpose(1, 2)).contiguous()
                        stats = {}
                        args = (share(q), share(k), share(v), None, layout, valid, None)
                        out = {"ulysses": lambda: P.ulysses(*args, None, stats, grid, case["text"]),
                               "spatial": lambda: P.spatial(*args, stats, grid, case["text"]),
                               "auto": lambda: P.auto(*args, stats, grid, case["text"])}[mode]()
                        got = out if layout == "bhnd" else out.transpose(1, 2)
                        err = (got.double() - want[:, :, s0:s1]).abs().max().item()
                        if not math.isfinite(err) or err > 2e-3:
                            bad.append(f"{what}: max |out - reference| {err:.3g}")
                            continue
                        predicted = P.bytes_sent(world, rank, B, H, ES, grid, case["text"])[stats["mode"]]
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
