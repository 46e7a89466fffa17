"""Checks of a generated CUDA package with real PyTorch on the CPU (no GPU, no nvcc):
    <python with torch> torch_checks.py <config.json>
config: {"folder": where the package is, "module": its name, "mode": "fixed" | "open",
         "masks": a folder of <h>_<w>_<text>_<valid>.npy (uint8 [tokens, tokens], compiler/reference.ts's
         denseMask of the pattern at those sizes), "sizes": [[h, w, text], ...] (fixed: one; open: two)}
Run by test/cuda.torch_cpu.test.ts; prints 'ok N' after N passing checks.

The ops get a CPU kernel here (torch.library.register_kernel) that computes attention in float64
from the mask of the sizes and per-sample text lengths the op receives, and the package's test seam
_op.DEVICE_TYPES takes "cpu": so attention(), the op's fake implementation, the plug's routing and
counts, and torch.compile of a plugged model run on real torch. Every model output is compared with
a float64 forward whose attention uses the mask the test expects (not what the op was told).
"""
import copy
import glob
import importlib
import json
import math
import os
import sys
import unittest
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch._dynamo.backends.registry import lookup_backend
from torch._dynamo.utils import counters

CFG = json.load(open(sys.argv[1]))
OPEN = CFG["mode"] == "open"
SIZES = [tuple(s) for s in CFG["sizes"]]
B, H = 2, 2
TEXT_VALID = [3, 0]  # per sample: one prompt of 3 real text tokens, one of none (CFG's uncond)


def _no_build(*a, **k):
    raise AssertionError("a kernel build was attempted (no nvcc here; the CPU kernel should have run)")


import torch.utils.cpp_extension as _cpp  # noqa: E402

_cpp.load = _cpp.load_inline = _no_build
sys.path.insert(0, CFG["folder"])
g = importlib.import_module(CFG["module"])
g._build.load_library = g._build.launch = _no_build
D = g.HEAD_DIM

MASKS = {}
for f in glob.glob(os.path.join(CFG["masks"], "*.npy")):
    h, w, t, valid = (int(x) for x in os.path.basename(f)[:-4].split("_"))
    MASKS[(h, w, t), valid] = torch.from_numpy(np.load(f).astype(bool))


def mask_of(sizes, valid):
    sizes = tuple(sizes)
    return MASKS[sizes, min(max(valid, 0), sizes[-1])]


def masked_attention(q, k, v, masks, scale):
    """float64 attention of [B, H, N, D] q, k, v, sample b seeing masks[b] ([N, N] bool; None: all):
    (out, lse); rows that see nothing give 0 and lse -inf, as the kernels."""
    s = (q.double() @ k.double().transpose(-1, -2)) * scale
    full = torch.ones(s.shape[-2:], dtype=torch.bool)
    s = s.masked_fill(~torch.stack([full if m is None else m for m in masks])[:, None], -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse[..., None]).nan_to_num(0.0)
    return p @ v.double(), lse


KERNEL_CALLS = []  # (sizes, per-sample valid) the CPU kernel received


def cpu_attention(q, k, v, text_valid, text_valid_all, sizes, scale, bnhd, with_lse, arch):
    valid = text_valid.tolist() if text_valid is not None else [text_valid_all] * q.shape[0]
    KERNEL_CALLS.append((list(sizes), valid))
    if bnhd:
        q, k, v = (x.transpose(1, 2) for x in (q, k, v))
    o, lse = masked_attention(q, k, v, [mask_of(sizes, n) for n in valid], scale)
    o = o.to(q.dtype)
    o = (o.transpose(1, 2) if bnhd else o).contiguous()
    return o, (lse.float() if with_lse else q.new_empty((0,), dtype=torch.float32))


def cpu_attention_out(q, k, v, out, *args):
    o, lse = cpu_attention(q, k, v, *args)
    out.copy_(o)
    return lse


def cpu_backward(dout, q, k, v, out, lse, dlse, text_valid, text_valid_all, sizes, scale, bnhd):
    """The backward kernels' formulas in float64 from the mask and the forward's out and lse, as the
    kernels use them: P = exp(scale q·k − lse), delta = rowsum(dO ∘ out) − dlse, dS = P ∘ (dO·vᵀ − delta)."""
    valid = text_valid.tolist() if text_valid is not None else [text_valid_all] * q.shape[0]
    KERNEL_CALLS.append((list(sizes), valid, "backward"))
    t = (lambda x: x.transpose(1, 2)) if bnhd else (lambda x: x)
    qd, kd, vd, od, dod = (t(x).double() for x in (q, k, v, out, dout))
    masks = torch.stack([mask_of(sizes, n) for n in valid])[:, None]
    s = (qd @ kd.transpose(-1, -2)) * scale
    p = torch.exp(s - lse.double()[..., None]).masked_fill(~masks, 0.0).nan_to_num(0.0)
    delta = (dod * od).sum(-1) - (dlse.double() if dlse is not None else 0.0)
    ds = p * (dod @ vd.transpose(-1, -2) - delta[..., None])
    grads = (ds @ kd * scale, ds.transpose(-1, -2) @ qd * scale, p.transpose(-1, -2) @ dod)
    return tuple(t(x).to(q.dtype).contiguous() for x in grads)


torch.library.register_kernel(g._op.attention, "cpu", cpu_attention)
torch.library.register_kernel(g._op.attention_out, "cpu", cpu_attention_out)
torch.library.register_kernel(g._op.backward, "cpu", cpu_backward)
g._op.DEVICE_TYPES = ("cuda", "cpu")  # the package's test seam


def tokens(sizes):
    return sizes[0] * sizes[1] + sizes[2]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = torch.nn.Linear(H * D, 3 * H * D)
        self.proj = torch.nn.Linear(H * D, H * D)

    def forward(self, x):
        n = x.shape[1]
        q, k, v = self.qkv(x).view(B, n, 3, H, D).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(a.transpose(1, 2).reshape(B, n, H * D))


class Tiny(torch.nn.Module):
    """Two transformer blocks whose attention is SDPA of [B, H, tokens, D]."""

    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def tiny():
    torch.manual_seed(1)
    m = Tiny()
    with torch.no_grad():
        for b in m.blocks:
            b.qkv.weight.normal_(0, 0.15)  # peaked attention: sparse and dense outputs differ clearly
    return m.to(torch.bfloat16).eval()


def reference(m, x, sizes, dense=(), valid=TEXT_VALID):
    """The model in float64 with the pattern's mask at `sizes` (blocks in `dense`: no mask)."""
    y = x.double()
    masks = [mask_of(sizes, n) for n in valid]
    for i, b in enumerate(m.blocks):
        n = y.shape[1]
        qkv = y @ b.qkv.weight.double().T + b.qkv.bias.double()
        q, k, v = qkv.view(B, n, 3, H, D).permute(2, 0, 3, 1, 4)
        a, _ = masked_attention(q, k, v, [None] * B if i in dense else masks, g.SCALE)
        y = y + a.transpose(1, 2).reshape(B, n, H * D) @ b.proj.weight.double().T + b.proj.bias.double()
    return y


def reference_grads(q, k, v, layout, masks, d_out, d_lse):
    """Float64 autograd of dense masked attention (rows that see no key: out 0, lse unused): the
    gradients of sum(out ∘ d_out) + sum(lse ∘ d_lse) in q's layout."""
    t = (lambda x: x.transpose(1, 2)) if layout == "bnhd" else (lambda x: x)
    qd, kd, vd = (x.detach().double().requires_grad_(True) for x in (q, k, v))
    m = torch.stack(masks)[:, None]
    has = m.any(-1, keepdim=True)
    s = (t(qd) @ t(kd).transpose(-1, -2)) * g.SCALE
    s = s.masked_fill(~m, -math.inf).masked_fill(~has, 0.0)
    lse = torch.logsumexp(s, -1)
    o = (torch.exp(s - lse[..., None]) * has) @ t(vd)
    loss = (t(o) * d_out.double()).sum()
    if d_lse is not None:
        loss = loss + (lse * has[..., 0] * d_lse.double()).sum()
    return torch.autograd.grad(loss, (qd, kd, vd))


def err(a, b):
    return ((a.double() - b).abs().max() / b.abs().max()).item()


TOL = 0.03  # bf16 activations through two blocks, relative to the largest output


def inputs(sizes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, tokens(sizes), H * D, generator=gen).to(torch.bfloat16)


class Compiles:
    """A torch.compile backend that counts the graphs it compiles."""

    def __init__(self, name):
        self.inner, self.graphs = lookup_backend(name), 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return self.inner(gm, example_inputs)


def compiled(m, name):
    torch._dynamo.reset()
    counters.clear()
    be = Compiles(name)
    return torch.compile(m, fullgraph=True, backend=be), be


def graph_breaks():
    return sum(counters["graph_break"].values())


class Setup(unittest.TestCase):
    def test_masks_and_constants(self):
        for s in SIZES:
            for n in range(s[2] + 1):
                m = mask_of(s, n)
                self.assertEqual(tuple(m.shape), (tokens(s),) * 2)
                self.assertLess(m.float().mean().item(), 0.75, "the pattern should be sparse at these sizes")
        self.assertEqual(g.GRID, (None, None) if OPEN else SIZES[0][:2])
        self.assertEqual(g.TOKENS, None if OPEN else tokens(SIZES[0]))


class Op(unittest.TestCase):
    def args(self, sizes, layout="bhnd", tv=True, lse=True, seed=0):
        gen = torch.Generator().manual_seed(seed)
        n = tokens(sizes)
        shape = (B, H, n, D) if layout == "bhnd" else (B, n, H, D)
        q, k, v = (torch.randn(shape, generator=gen).to(torch.bfloat16) for _ in range(3))
        text_valid = torch.tensor(TEXT_VALID, dtype=torch.int32) if tv else None
        return q, k, v, text_valid, 1, list(sizes), 0.125, layout == "bnhd", lse, ""

    def test_opcheck(self):
        """Schema, fake vs real (shapes, dtypes, strides), autograd registration, AOT dispatch."""
        for sizes in SIZES:
            for layout in ("bhnd", "bnhd"):
                for tv, lse in [(True, True), (False, False)]:
                    a = self.args(sizes, layout, tv, lse)
                    with self.subTest(sizes=sizes, layout=layout, tv=tv, lse=lse):
                        torch.library.opcheck(g._op.attention, a)
                        out = torch.empty_like(a[0])
                        torch.library.opcheck(g._op.attention_out, (*a[:3], out, *a[3:]))
        torch.library.opcheck(g._op.note, (0, "taken", "", torch.zeros(2)))  # (no plug 0: counts nothing)

    def test_attention_vs_reference(self):
        for sizes in SIZES:
            for layout in ("bhnd", "bnhd"):
                q, k, v, *_ = self.args(sizes, layout, seed=3)
                kw = dict(grid=sizes[:2]) if OPEN else {}
                o, lse = g.attention(q, k, v, text_valid=torch.tensor(TEXT_VALID), layout=layout, return_lse=True, **kw)
                t = (lambda x: x.transpose(1, 2)) if layout == "bnhd" else (lambda x: x)
                want, want_lse = masked_attention(t(q), t(k), t(v), [mask_of(sizes, n) for n in TEXT_VALID], g.SCALE)
                self.assertEqual((o.shape, o.dtype, lse.shape, lse.dtype), (q.shape, q.dtype, (B, H, tokens(sizes)), torch.float32))
                self.assertLess(err(t(o), want), 0.01)
                self.assertTrue(torch.equal(lse.isinf(), want_lse.isinf()))
                fin = ~want_lse.isinf()
                self.assertLess((lse.double() - want_lse)[fin].abs().max().item(), 1e-4)
                self.assertEqual(KERNEL_CALLS[-1], ([*sizes], TEXT_VALID))  # (the kernel clamps them)

    def test_opcheck_backward(self):
        """The backward op (schema, fake vs real) and the attention op's autograd registration."""
        for sizes in SIZES:
            for layout in ("bhnd", "bnhd"):
                for tv in (True, False):
                    q, k, v, text_valid, tv_all, sz, scale, bnhd, _, arch = self.args(sizes, layout, tv)
                    out, lse = g._op.attention(q, k, v, text_valid, tv_all, sz, scale, bnhd, True, arch)
                    dlse = torch.randn(lse.shape) if tv else None
                    with self.subTest(sizes=sizes, layout=layout, tv=tv):
                        torch.library.opcheck(g._op.backward, (torch.randn(q.shape).to(q.dtype), q, k, v, out, lse, dlse, text_valid, tv_all, sz, scale, bnhd))
                        grads = [x.clone().requires_grad_(True) for x in (q, k, v)]
                        torch.library.opcheck(g._op.attention, (*grads, text_valid, tv_all, sz, scale, bnhd, True, arch))

    def test_gradients_vs_reference(self):
        """attention() is differentiable: dq, dk, dv (through out and the returned lse) against float64
        autograd of the dense masked attention, per-sample text lengths, both layouts."""
        self.assertTrue(g._op.AUTOGRAD)
        for sizes in SIZES:
            for layout in ("bhnd", "bnhd"):
                q, k, v, *_ = (x.requires_grad_(True) for x in self.args(sizes, layout, seed=8)[:3])
                gen = torch.Generator().manual_seed(9)
                d_out, d_lse = torch.randn(q.shape, generator=gen), torch.randn(B, H, tokens(sizes), generator=gen)
                kw = dict(grid=sizes[:2]) if OPEN else {}
                o, lse = g.attention(q, k, v, text_valid=torch.tensor(TEXT_VALID), layout=layout, return_lse=True, **kw)
                ((o.double() * d_out).sum() + (lse.double() * d_lse).sum()).backward()
                self.assertEqual(KERNEL_CALLS[-1], ([*sizes], TEXT_VALID, "backward"))
                want = reference_grads(q, k, v, layout, [mask_of(sizes, n) for n in TEXT_VALID], d_out, d_lse)
                for name, x, w in zip("qkv", (q, k, v), want):
                    with self.subTest(sizes=sizes, layout=layout, grad=name):
                        self.assertEqual((x.grad.shape, x.grad.dtype), (x.shape, x.dtype))
                        self.assertLess(err(x.grad, w), 0.02)
                # without the lse in the loss, and no return_lse: the op still saved it for the backward
                for x in (q, k, v):
                    x.grad = None
                (g.attention(q, k, v, text_valid=torch.tensor(TEXT_VALID), layout=layout, **kw).double() * d_out).sum().backward()
                want = reference_grads(q, k, v, layout, [mask_of(sizes, n) for n in TEXT_VALID], d_out, None)
                self.assertLess(max(err(x.grad, w) for x, w in zip((q, k, v), want)), 0.02)

    def test_gradients_int_text_valid(self):
        """One text_valid for the whole batch (no tensor: the op saves None)."""
        sizes = SIZES[0]
        q, k, v, *_ = (x.requires_grad_(True) for x in self.args(sizes, seed=12)[:3])
        d_out = torch.randn(q.shape, generator=torch.Generator().manual_seed(13))
        kw = dict(grid=sizes[:2]) if OPEN else {}
        (g.attention(q, k, v, text_valid=2, **kw).double() * d_out).sum().backward()
        self.assertEqual(KERNEL_CALLS[-1], ([*sizes], [2] * B, "backward"))
        want = reference_grads(q, k, v, "bhnd", [mask_of(sizes, 2)] * B, d_out, None)
        self.assertLess(max(err(x.grad, w) for x, w in zip((q, k, v), want)), 0.02)

    def test_out_refuses_grad(self):
        q, k, v, *_ = self.args(SIZES[0])
        kw = dict(grid=SIZES[0][:2]) if OPEN else {}
        with self.assertRaisesRegex(ValueError, "out= has no backward"):
            g.attention(q.requires_grad_(True), k, v, out=torch.empty_like(q), **kw)


    def test_precision_refused(self):
        """precision: None or "int8" (issue 20); "int8" only in a package emitted with its kernel (not this one)."""
        q, k, v, *_ = self.args(SIZES[0])
        kw = dict(grid=SIZES[0][:2]) if OPEN else {}
        with self.assertRaisesRegex(ValueError, "precision must be None"):
            g.attention(q, k, v, precision="fp8", **kw)
        with self.assertRaisesRegex(ValueError, "no int8 kernel"):
            g.attention(q, k, v, precision="int8", **kw)
        with self.assertRaisesRegex(ValueError, "no int8 kernel"):
            g.plug(tiny(), precision="int8")


class Plugged(unittest.TestCase):
    def setUp(self):
        self.m = tiny()
        warnings.simplefilter("ignore")

    def plug(self, **kw):
        grid = dict(grid=SIZES[0][:2]) if OPEN else {}
        p = g.plug(self.m, text_valid=torch.tensor(TEXT_VALID), **grid, **kw)
        self.addCleanup(p.remove)
        return p

    def test_eager_vs_reference(self):
        p = self.plug()
        x = inputs(SIZES[0])
        with torch.no_grad():
            y = self.m(x)
        self.assertEqual(p.stats, {"taken": 2, "passed": {}})
        sparse, dense = reference(self.m, x, SIZES[0]), reference(self.m, x, SIZES[0], dense=(0, 1))
        self.assertLess(err(y, sparse), TOL)
        self.assertGreater(err(y, dense), 3 * TOL, "the test cannot tell the pattern from dense attention")
        self.assertEqual(KERNEL_CALLS[-1], ([*SIZES[0]], TEXT_VALID))

    def test_training(self):
        """A training step through the plug (the kernel takes calls that need grad): parameter
        gradients eager == compiled (aot_eager, fullgraph: the backward op in the graph, no break)
        and close to float64 autograd of the masked model; every SDPA call taken."""
        p = self.plug()
        m = self.m.train()
        x = inputs(SIZES[0], seed=11)

        def step(model):
            for q in m.parameters():
                q.grad = None
            model(x).float().square().mean().backward()
            return [q.grad.clone() for q in m.parameters()]

        eager = step(m)
        self.assertEqual(p.stats, {"taken": 2, "passed": {}})
        self.assertEqual(KERNEL_CALLS[-1][2:], ("backward",))
        cm, be = compiled(m, "aot_eager")
        p.reset_stats()
        calls = len(KERNEL_CALLS)
        comp = step(cm)
        self.assertEqual([c[2:] for c in KERNEL_CALLS[calls:]], [(), (), ("backward",), ("backward",)])  # the compiled graphs ran the ops
        self.assertEqual(graph_breaks(), 0, dict(counters["graph_break"]))
        self.assertEqual((be.graphs, p.stats), (1, {"taken": 2, "passed": {}}))
        for a, b in zip(eager, comp):
            self.assertLess(err(b, a.double()), 1e-2)
        m64 = copy.deepcopy(m).double()
        reference(m64, x, SIZES[0]).square().mean().backward()
        for (name, q), a in zip(m64.named_parameters(), eager):
            self.assertLess(err(a, q.grad), 0.05, name)
        dense = copy.deepcopy(m).double()
        reference(dense, x, SIZES[0], dense=(0, 1)).square().mean().backward()
        far = max(err(a, q.grad) for (_, q), a in zip(dense.named_parameters(), eager))
        self.assertGreater(far, 0.15, "the test cannot tell the pattern's gradients from dense attention's")

    def test_compiled_no_graph_breaks(self):
        p = self.plug()
        x = inputs(SIZES[0])
        with torch.no_grad():
            eager = self.m(x)
            torch._dynamo.reset()
            ex = torch._dynamo.explain(self.m)(x)
            self.assertEqual((ex.graph_break_count, ex.graph_count), (0, 1), [str(r.reason) for r in ex.break_reasons])
            for name in ("eager", "aot_eager"):
                with self.subTest(backend=name):
                    cm, be = compiled(self.m, name)
                    p.reset_stats()
                    outs = [cm(x) for _ in range(3)]
                    self.assertEqual(graph_breaks(), 0, dict(counters["graph_break"]))
                    self.assertEqual(be.graphs, 1)
                    for y in outs:
                        self.assertTrue(torch.equal(y, eager), f"compiled ({name}) != eager: {(y.float() - eager.float()).abs().max()}")
                    # counted by the compiled code, each time it runs
                    self.assertEqual(p.stats, {"taken": 6, "passed": {}})
        self.assertLess(err(eager, reference(self.m, x, SIZES[0])), TOL)

    def test_policy_under_compile(self):
        p = self.plug(dense_layers=[1], dense_steps=[0])
        x = inputs(SIZES[0], seed=1)
        with torch.no_grad():
            cm, be = compiled(self.m, "aot_eager")
            for step in (0, 1, 2, 0):
                p.step = step
                y = cm(x)
                want = reference(self.m, x, SIZES[0], dense=(0, 1) if step == 0 else (1,))
                self.assertLess(err(y, want), TOL, f"step {step}")
            p.step = None
            cm(x)
        self.assertEqual(graph_breaks(), 0)
        self.assertEqual(be.graphs, 2)  # the dense step and the others
        self.assertEqual(p.stats, {"taken": 3, "passed": {"layer": 5, "step": 2}})
        self.assertRegex(p.report(), r"10 SDPA calls\n +3  sparse .*\n +5  dense by policy: layer .*\n +2  dense by policy: step")

    def test_strict_and_warn_under_compile(self):
        p = self.plug(strict=True)
        h, w, _ = SIZES[0]
        bad = inputs(SIZES[0])[:, :h * w - 1]  # one token short of the grid alone
        with torch.no_grad():
            cm, be = compiled(self.m, "aot_eager")
            with self.assertRaisesRegex(RuntimeError, r"plug \(strict\): an SDPA call would run dense: the token count"):
                cm(bad)
            self.assertEqual(graph_breaks(), 0)
            p.strict = False
            cm, be = compiled(self.m, "aot_eager")
            p.reset_stats()
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                cm(bad)
                cm(bad)
        self.assertEqual(p.stats, {"taken": 0, "passed": {"sizes": 4}})
        self.assertEqual(len([x for x in w if "runs dense" in str(x.message)]), 1, [str(x.message) for x in w])

    def test_run_time_grid(self):
        if not OPEN:
            self.skipTest("fixed sizes")
        p = self.plug()
        p.grid = None
        with torch.no_grad():
            cm, be = compiled(self.m, "aot_eager")
            for rep in range(2):
                for sizes in SIZES:
                    x = inputs(sizes, seed=2)
                    with p.generation(grid=sizes[:2]):
                        y = cm(x)
                        self.assertTrue(torch.equal(y, self.m(x)), f"compiled != eager at {sizes}")
                    self.assertLess(err(y, reference(self.m, x, sizes)), TOL, f"{sizes}")
                    self.assertEqual(KERNEL_CALLS[-1][0], [*sizes])
        self.assertEqual(graph_breaks(), 0)
        self.assertEqual(be.graphs, len(SIZES))  # one per grid; the second round reuses them
        self.assertEqual(p.stats, {"taken": 4 * len(SIZES) * 2, "passed": {}})

    def test_text_valid_tensor_keeps_one_graph(self):
        """New per-sample text lengths in the same tensor-valued setting: no recompile, right masks."""
        p = self.plug()
        x = inputs(SIZES[0], seed=5)
        with torch.no_grad():
            cm, be = compiled(self.m, "aot_eager")
            for valid in (TEXT_VALID, [1, 2], [0, 0]):
                p.text_valid = torch.tensor(valid)
                y = cm(x)
                self.assertLess(err(y, reference(self.m, x, SIZES[0], valid=valid)), TOL, f"{valid}")
                self.assertTrue(torch.equal(y, self.m(x)))
        self.assertEqual(be.graphs, 1)

    def test_attention_out_compiled(self):
        """attention(out=..., return_lse=True) inside a compiled function: the out op's mutation."""
        sizes = SIZES[0]
        kw = dict(grid=sizes[:2]) if OPEN else {}

        def f(q, k, v, o):
            _, lse = g.attention(q, k, v, text_valid=2, out=o, return_lse=True, **kw)
            return o * 2, lse

        gen = torch.Generator().manual_seed(6)
        q, k, v = (torch.randn(B, H, tokens(sizes), D, generator=gen).to(torch.bfloat16) for _ in range(3))
        o1, o2 = torch.zeros_like(q), torch.zeros_like(q)
        torch._dynamo.reset()
        counters.clear()
        y1, lse1 = torch.compile(f, fullgraph=True, backend="aot_eager")(q, k, v, o1)
        y2, lse2 = f(q, k, v, o2)
        self.assertEqual(graph_breaks(), 0)
        self.assertTrue(torch.equal(o1, o2) and torch.equal(y1, y2) and torch.equal(lse1, lse2))
        want, _ = masked_attention(q, k, v, [mask_of(sizes, 2)] * B, g.SCALE)
        self.assertLess(err(o1, want), 0.01)

    def test_remove_under_compile(self):
        """A compiled model whose plug is removed recompiles and runs dense SDPA (no stale kernel calls)."""
        p = self.plug()
        x = inputs(SIZES[0], seed=7)
        with torch.no_grad():
            cm, be = compiled(self.m, "aot_eager")
            cm(x)
            calls = len(KERNEL_CALLS)
            p.remove()
            y = cm(x)
        self.assertEqual((len(KERNEL_CALLS) - calls, be.graphs, p.stats["taken"]), (0, 2, 2))
        self.assertLess(err(y, reference(self.m, x, SIZES[0], dense=(0, 1))), TOL)

    def test_dynamic_shapes(self):
        """dynamic=True (symbolic token counts): no graph break, the sizes reach the op as ints."""
        p = self.plug()
        torch._dynamo.reset()
        counters.clear()
        cm = torch.compile(self.m, fullgraph=True, backend="aot_eager", dynamic=True)
        with torch.no_grad():
            for sizes in SIZES:
                x = inputs(sizes, seed=4)
                with p.generation(grid=sizes[:2]):
                    y = cm(x)
                self.assertLess(err(y, reference(self.m, x, sizes)), TOL, f"{sizes}")
                self.assertEqual(KERNEL_CALLS[-1][0], [*sizes])
        self.assertEqual(graph_breaks(), 0)


if __name__ == "__main__":
    r = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=0).result
    if r.wasSuccessful():
        print(f"ok {r.testsRun}")
    sys.exit(0 if r.wasSuccessful() else 1)
