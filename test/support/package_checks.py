"""Checks of a generated CUDA package's Python logic against the stub torch (test/support/stub_torch):
    PYTHONPATH=<stub>:<folder> python3 package_checks.py <module> fixed|open
'fixed': examples/flux_grat_b.grat at grid 20x36 (text 512 before); 'open': the same pattern with
its grid and text count given at run time (limits 64x64, text 600, tokens 4500). Run by
test/cuda.package.test.ts; prints 'ok N' after N passing checks."""
import importlib
import sys
import unittest
import warnings

import torch
import torch.nn.functional as F

MODULE, MODE = sys.argv[1], sys.argv[2]
g = importlib.import_module(MODULE)
OPEN = MODE == "open"
B, H, D = 2, 3, 128
AT = dict(grid=(20, 36)) if OPEN else {}  # what attention() needs to run 1232 tokens


def qkv(n, dtype=torch.bfloat16, device="cuda:0", heads=H, d=D, layout="bhnd", **kw):
    shape = (B, heads, n, d) if layout == "bhnd" else (B, n, heads, d)
    return [torch.Tensor(shape, dtype, device, **kw) for _ in range(3)]


def last_op():
    name, args = torch.OP_CALLS[-1]
    return name.split("::")[1], args


class Constants(unittest.TestCase):
    def test_sizes(self):
        if OPEN:
            self.assertEqual((g.GRID, g.TEXT_COUNT, g.TOKENS), ((None, None), None, None))
            self.assertEqual(g.RUNTIME_LIMITS, {"dims": [True, True], "text": True, "max": {"dims": [64, 64], "text": 600, "tokens": 4500}})
            self.assertEqual(g.SPATIAL_PLANS, {})
        else:
            self.assertEqual((g.GRID, g.TEXT_COUNT, g.TOKENS, g.IMAGE_OFFSET), ((20, 36), 512, 1232, 512))
            self.assertEqual(g.RUNTIME_LIMITS["dims"], [False, False])
        self.assertEqual((g.HEAD_DIM, g.GROUP, g.TEXT_PLACE), (128, (16, 16), "before"))
        self.assertTrue(g.KERNEL.startswith("grat_flux_grat_b_"))

    def test_tokens_for(self):
        self.assertEqual(g.tokens_for([20, 36], 512), 1232)
        if OPEN:
            self.assertEqual(g.tokens_for((33, 45), 0), 33 * 45)
            self.assertEqual(g.tokens_for((1, 1), 600), 601)
            for bad, msg in [(((65, 1), 0), "outside the kernel's limits 1..64"), (((0, 5), 0), "outside"), (((20, 36), 601), "text_count 601 is outside"),
                             (((64, 64), 600), "makes 4696 tokens, more than the kernel's limit 4500"), (((20, 36),), "pass text_count="), ((None, 5), "pass grid=")]:
                with self.assertRaisesRegex(ValueError, msg):
                    g.tokens_for(*bad)
        else:
            self.assertEqual((g.tokens_for(), g.tokens_for((20, 36))), (1232, 1232))
            with self.assertRaisesRegex(ValueError, r"size w is fixed at 36"):
                g.tokens_for((20, 37))
            with self.assertRaisesRegex(ValueError, "fixed at 512"):
                g.tokens_for((20, 36), 77)
        for bad in [(20,), (20, 36, 1), (20.0, 36), (True, 36), "20x36"]:
            with self.assertRaisesRegex(ValueError, "grid must be 2 integers"):
                g.tokens_for(bad)


class Attention(unittest.TestCase):
    def test_fixed_sizes_and_text(self):
        q, k, v = qkv(1232)
        out = g.attention(q, k, v, text_valid=torch.tensor([77, 0]), **AT)
        self.assertEqual((out.shape, out.dtype), (q.shape, q.dtype))
        op, args = last_op()
        tv, tv_all, sizes, scale, bnhd, with_lse, arch = args[3:]
        self.assertEqual(op, "attention")
        self.assertEqual((tv.shape, tv.dtype, str(tv.device)), ((B,), torch.int32, "cuda:0"))  # moved to q's device as int32
        self.assertEqual((sizes, scale, bnhd, with_lse, arch), ([20, 36, 512], g.SCALE, False, False, ""))
        g.attention(q, k, v, text_valid=10_000, **AT)
        self.assertEqual(last_op()[1][3:5], (None, 512))  # clamped to the text count
        g.attention(q, k, v, text_valid=-3, **AT)
        self.assertEqual(last_op()[1][4], 0)
        g.attention(q, k, v, text_valid=torch.tensor(5, device="cuda:0").reshape(), **AT)  # 0-d: every sample
        self.assertEqual(last_op()[1][3].shape, (B,))
        g.attention(q, k, v, **AT)
        self.assertEqual(last_op()[1][3:5], (None, 512))

    def test_lse_layout_out_arch(self):
        q, k, v = qkv(1232, layout="bnhd")
        out, lse = g.attention(q, k, v, layout="bnhd", return_lse=True, scale=0.5, arch="sm80", **AT)
        self.assertEqual(out.shape, (B, 1232, H, D))
        self.assertEqual((lse.shape, lse.dtype), ((B, H, 1232), torch.float32))
        self.assertEqual(last_op()[1][6:], (0.5, True, True, "sm80"))
        o = torch.Tensor(q.shape, q.dtype)
        r = g.attention(q, k, v, layout="bnhd", out=o, **AT)
        self.assertIs(r, o)
        self.assertEqual(last_op()[0], "attention_out")

    def test_differentiable_call_asks_for_the_exact_forward(self):
        # (issue 21: the sm_90a library's exact forward, whose O and lse the backward reads)
        q, k, v = qkv(1232, requires_grad=True)
        g.attention(q, k, v, **AT)
        self.assertEqual(last_op()[1][8:], (True, ":exact"))
        g.attention(q, k, v, arch="sm90a", **AT)
        self.assertEqual(last_op()[1][8:], (True, "sm90a:exact"))
        with torch.no_grad():
            g.attention(q, k, v, return_lse=True, arch="sm90a", **AT)
        self.assertEqual(last_op()[1][8:], (True, "sm90a"))

    def test_backward_arch_is_opt_in(self):
        # (issue 21: the sm_90a backward runs only with GRAT_CUDA_BWD_ARCH=sm90a until a GPU checked it)
        import os
        saved = os.environ.pop("GRAT_CUDA_BWD_ARCH", None)
        try:
            self.assertEqual(g._build.backward_arch(), "sm80")
            os.environ["GRAT_CUDA_BWD_ARCH"] = "sm90a"
            self.assertEqual(g._build.backward_arch(), "sm90a")
            os.environ["GRAT_CUDA_BWD_ARCH"] = "sm75"
            with self.assertRaisesRegex(ValueError, "GRAT_CUDA_BWD_ARCH"):
                g._build.backward_arch()
        finally:
            os.environ.pop("GRAT_CUDA_BWD_ARCH", None)
            if saved is not None:
                os.environ["GRAT_CUDA_BWD_ARCH"] = saved

    def test_refusals(self):
        q, k, v = qkv(1232)
        cases = [
            (dict(q=qkv(1232, torch.float32)[0]), TypeError, "bfloat16 or all float16"),
            (dict(k=qkv(1232, torch.float16)[1]), TypeError, "bfloat16 or all float16"),
            (dict(q=qkv(1232, device="cpu")[0], k=qkv(1232, device="cpu")[1], v=qkv(1232, device="cpu")[2]), ValueError, "one CUDA device"),
            (dict(k=qkv(1232, device="cuda:1")[1]), ValueError, "one CUDA device"),
            (dict(k=qkv(1000)[1]), ValueError, "one 4-D shape"),
            (dict(q=qkv(1232, d=64)[0], k=qkv(1232, d=64)[1], v=qkv(1232, d=64)[2]), ValueError, "head_dim 128, got 64"),
            (dict(layout="nhd"), ValueError, "layout must be"),
            (dict(arch="sm75"), ValueError, "arch must be"),
            (dict(text_valid=torch.tensor([1, 2, 3])), ValueError, r"one count per sample, shape \[2\]; got \[3\]"),
            (dict(text_valid=torch.Tensor((2, 1), torch.int32)), ValueError, "one count per sample"),
            (dict(text_valid=torch.Tensor((2,), torch.float32)), TypeError, "integer tensor"),
            (dict(text_valid=torch.Tensor((2,), torch.bool_)), TypeError, "integer tensor"),
            (dict(text_valid=7.5), TypeError, "got float"),
            (dict(text_valid=True), TypeError, "got bool"),
            (dict(out=torch.Tensor((B, H, 1000, D), torch.bfloat16)), ValueError, "out must be"),
        ]
        if not OPEN:
            cases += [(dict(grid=(20, 37)), ValueError, "fixed at 36"), (dict(text_count=7), ValueError, "fixed at 512")]
        for kw, exc, msg in cases:
            args = dict(q=q, k=k, v=v, grid=(20, 36)) if OPEN else dict(q=q, k=k, v=v)
            args.update(kw)
            with self.subTest(kw=list(kw)), self.assertRaisesRegex(exc, msg):
                g.attention(**args)
        n = 1232 + 1
        with self.assertRaisesRegex(ValueError, "pass grid=" if OPEN else "makes 1232 tokens; q has 1233"):
            g.attention(*qkv(n))

    def test_run_time_sizes(self):
        if not OPEN:
            self.skipTest("fixed sizes")
        for grid, text in [((33, 45), 0), ((20, 36), 512), ((1, 1), 1), ((64, 48), 600)]:
            n = grid[0] * grid[1] + text
            g.attention(*qkv(n), grid=grid, text_count=text)
            self.assertEqual(last_op()[1][5], [*grid, text])
            g.attention(*qkv(n), grid=grid)  # the text count is what the grid leaves
            self.assertEqual(last_op()[1][5], [*grid, text])
        with self.assertRaisesRegex(ValueError, "leave -1 text tokens"):
            g.attention(*qkv(20 * 36 - 1), grid=(20, 36))
        with self.assertRaisesRegex(ValueError, "makes 1232 tokens; q has 1233"):
            g.attention(*qkv(1233), grid=(20, 36), text_count=512)
        with self.assertRaisesRegex(ValueError, "size h = 65 is outside the kernel's limits 1..64"):
            g.attention(*qkv(65 * 10), grid=(65, 10), text_count=0)
        with self.assertRaisesRegex(ValueError, "pass grid=\\(h, w\\)"):
            g.attention(*qkv(1232))


class Fake(unittest.TestCase):
    def test_shapes(self):
        from importlib import import_module

        op = import_module(MODULE + "._op")
        for layout, shape in [("bhnd", (2, 3, 100, 128)), ("bnhd", (2, 100, 3, 128))]:
            q = torch.Tensor(shape, torch.float16)
            bnhd = layout == "bnhd"
            o, lse = op._attention_fake(q, q, q, None, 0, [10, 10, 0], 1.0, bnhd, True, "")
            self.assertEqual((o.shape, o.dtype, lse.shape, lse.dtype), (q.shape, q.dtype, (2, 3, 100), torch.float32))
            o, lse = op._attention_fake(q, q, q, None, 0, [10, 10, 0], 1.0, bnhd, False, "")
            self.assertEqual(lse.shape, (0,))
            self.assertEqual(op._attention_out_fake(q, q, q, q, None, 0, [10, 10, 0], 1.0, bnhd, True, "").shape, (2, 3, 100))

    def test_registered_per_kernel(self):
        space = getattr(torch.ops, g.KERNEL)
        self.assertEqual(space.attention.name, f"{g.KERNEL}::attention")
        self.assertEqual(space.attention.mutates_args, ())
        self.assertEqual(space.attention_out.mutates_args, ("out",))


class Model(torch.nn.Module):
    """Three blocks of self-attention and one of cross-attention (a mask and another token count)."""

    class Block(torch.nn.Module):
        def forward(self, x):
            return F.scaled_dot_product_attention(x, x, x)

    class Cross(torch.nn.Module):
        def forward(self, x, ctx):
            return F.scaled_dot_product_attention(x, ctx, ctx)

    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Model.Block(), Model.Block(), Model.Block()])
        self.cross = Model.Cross()

    def forward(self, x, ctx=None):
        for b in self.blocks:
            x = b(x)
        return self.cross(x, ctx) if ctx is not None else x


class Plug(unittest.TestCase):
    def setUp(self):
        F.DENSE_CALLS.clear()

    def test_routes_counts_and_warns_once(self):
        m = Model()
        p = g.plug(m, grid=(20, 36), text_valid=77)
        self.assertEqual(F.scaled_dot_product_attention.__module__, f"{MODULE}._plug")
        self.assertEqual(getattr(torch.ops, g.KERNEL).note.name, f"{g.KERNEL}::note")  # compiled code counts through it
        x = qkv(1232)[0]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m(x)
            m(x, qkv(77)[0])  # cross-attention: passed through with a reason
            m(x, qkv(77)[0])
            m(qkv(700)[0])  # too few tokens for the grid
        self.assertEqual(p.stats, {"taken": 9, "passed": {"shape": 2, "sizes": 3}})
        self.assertEqual(len(F.DENSE_CALLS), 5)
        self.assertEqual([str(x.message).split(": ")[1] for x in w], ["an SDPA call runs dense", "an SDPA call runs dense"])
        self.assertRegex(str(w[1].message), "700 tokens with grid \\(20, 36\\) \\(720 grid tokens\\) leave -20 text tokens" if OPEN
                         else "grid \\(20, 36\\) with 512 text tokens makes 1232 tokens; q has 700")
        self.assertEqual(last_op()[1][4], 77)
        text = p.report()
        self.assertRegex(text, r"14 SDPA calls\n +9  sparse \(this kernel\)\n +2  dense, passed through: shape .*\n +3  dense, passed through: sizes ")
        p.remove()
        self.assertNotIn("forward", vars(m))
        m(x)
        self.assertEqual(p.stats["taken"], 9)  # removed: nothing counted, SDPA is the stub's again
        self.assertEqual(F.scaled_dot_product_attention.__module__, "torch.nn.functional")

    def test_reasons(self):
        x = qkv(1232)[0]
        cases = [("mask", dict(attn_mask=x)), ("causal", dict(is_causal=True)), ("gqa", dict(enable_gqa=True)), ("kwargs", dict(foo=1)),
                 ("dropout", dict(dropout_p=0.1))]
        for reason, kw in cases:
            class Odd(torch.nn.Module):
                def forward(self, y):
                    return F.scaled_dot_product_attention(y, y, y, **kw)

            p = g.plug(Odd(), grid=(20, 36), warn=False)
            p.module(x)
            self.assertEqual(p.stats["passed"], {reason: 1}, reason)
            p.remove()
        self.assertEqual([c["kw"] for c in F.DENSE_CALLS[2:4]], [{"enable_gqa": True}, {"foo": 1}])  # passed on as given
        m = Model.Block()
        p = g.plug(m.eval(), grid=(20, 36), warn=False)
        m(x)  # dropout_p in eval mode: no dropout
        p.remove()
        with self.assertRaisesRegex(TypeError, "takes a torch.nn.Module"):
            g.plug(lambda x: x)
        for reason, t in [("dtype", qkv(1232, torch.float32)[0]), ("device", qkv(1232, device="cpu")[0]), ("head_dim", qkv(1232, d=64)[0])]:
            p = g.plug(m, grid=(20, 36), warn=False)
            m(t)
            self.assertEqual(p.stats["passed"], {reason: 1}, reason)
            p.remove()
        p = g.plug(m, grid=(20, 36), warn=False)
        m(qkv(1232, requires_grad=True)[0])  # training: taken (the op has a backward), with the lse it saves
        self.assertEqual(last_op()[0], "attention")
        self.assertTrue(last_op()[1][8])
        with torch.no_grad():
            m(qkv(1232, requires_grad=True)[0])  # no grad recorded: taken, no lse
        self.assertFalse(last_op()[1][8])
        self.assertEqual(p.stats, {"taken": 2, "passed": {}})
        self.assertTrue(g._op.AUTOGRAD)
        p.remove()
        for f in (g.ulysses_attention, g.spatial_attention, g.parallel_attention):  # no multi-GPU backward yet: an error, not a detached output
            with self.assertRaisesRegex(ValueError, "has no backward yet"):
                f(*qkv(1232, requires_grad=True))

    def test_strict(self):
        m = Model()
        p = g.plug(m, grid=(20, 36), strict=True, dense_layers=["blocks.2"])
        m(qkv(1232)[0])  # a policy-dense layer is no error
        with self.assertRaisesRegex(RuntimeError, r"plug \(strict\): an SDPA call would run dense: the token count does not fit"):
            m(qkv(700)[0])
        self.assertEqual(p.stats, {"taken": 2, "passed": {"layer": 1}})
        self.assertEqual(len(F.DENSE_CALLS), 1)
        p.remove()

    def test_policy(self):
        m = Model()
        with self.assertRaisesRegex(ValueError, "matches no module path"):
            g.plug(m, dense_layers=["transformer.*"])
        with self.assertRaisesRegex(ValueError, "the model has 3 blocks"):
            g.plug(m, dense_layers=[3])
        with self.assertRaisesRegex(TypeError, "dense_steps takes"):
            g.plug(m, dense_steps=["0"])
        p = g.plug(m, grid=(20, 36), dense_layers=[0, "blocks.2"], dense_steps=[0, range(5, 7), 9])
        self.assertEqual(p.blocks, ["blocks.0", "blocks.1", "blocks.2"])
        self.assertEqual(p.dense_layers, ("blocks.0", "blocks.2"))
        x = qkv(1232)[0]
        for step in range(10):
            p.step = step
            m(x)
        # blocks 0 and 2 dense always, block 1 at steps 0, 5, 6 and 9
        self.assertEqual(p.stats, {"taken": 6, "passed": {"layer": 20, "step": 4}})
        self.assertEqual(len(F.DENSE_CALLS), 24)
        p.remove()
        p = g.plug(m, grid=(20, 36), dense_steps=lambda s: s < 2)
        with p.generation(grid=(20, 36), text_valid=torch.tensor([3, 0])):
            self.assertIsNone(p.step)
            for step in range(4):
                p.step = step
                m(x)
            self.assertEqual(last_op()[1][3].shape, (B,))
        self.assertEqual((p.step, p.text_valid), (None, None))  # restored
        self.assertEqual(p.stats, {"taken": 6, "passed": {"step": 6}})
        self.assertRegex(p.report(), r"6  dense by policy: step")
        with self.assertRaisesRegex(TypeError, "plug.step must be an int"):
            p.step = 1.5
        p.remove()

    def test_grid_per_generation(self):
        m = Model.Block()
        if OPEN:
            with self.assertRaisesRegex(ValueError, "outside the kernel's limits"):
                g.plug(m, grid=(100, 10))
            p = g.plug(m, warn=False)
            m(qkv(1232)[0])  # no grid: two sizes are open
            self.assertEqual(p.stats["passed"], {"sizes": 1})
            for grid, text in [((33, 45), 0), ((64, 48), 512), ((20, 36), 77)]:
                with p.generation(grid=grid):
                    m(qkv(grid[0] * grid[1] + text)[0])
                self.assertEqual(last_op()[1][5], [*grid, text])
            self.assertEqual(p.stats["taken"], 3)
        else:
            with self.assertRaisesRegex(ValueError, "fixed at 36"):
                g.plug(m, grid=(20, 37))
            p = g.plug(m)
            m(qkv(1232)[0])
            self.assertEqual(p.stats, {"taken": 1, "passed": {}})
        p.remove()

    def test_two_plugs_nest(self):
        outer, inner = Model(), None
        inner = outer.blocks[1]
        p1 = g.plug(outer, grid=(20, 36), warn=False)
        p2 = g.plug(inner, grid=(20, 36), dense_steps=0, warn=False)
        p2.step = 0
        outer(qkv(1232)[0])
        self.assertEqual((p1.stats, p2.stats), ({"taken": 2, "passed": {}}, {"taken": 0, "passed": {"step": 1}}))
        p2.remove()
        p1.remove()
        self.assertEqual(F.scaled_dot_product_attention.__module__, "torch.nn.functional")

    def test_threads_do_not_share_plugs(self):
        # thread A is inside its plugged forward while thread B calls SDPA outside any plugged model:
        # B's call must go to the SDPA that was there before, not to A's plug
        import threading
        inside, done = threading.Event(), threading.Event()

        class Waits(torch.nn.Module):
            def forward(self, x):
                inside.set()
                done.wait(10)
                return F.scaled_dot_product_attention(x, x, x)

        m = Waits()
        p = g.plug(m, grid=(20, 36), warn=False)
        a = threading.Thread(target=m, args=(qkv(1232)[0],))
        a.start()
        self.assertTrue(inside.wait(10))
        F.scaled_dot_product_attention(*qkv(1232))  # thread B (this one): no plugged forward running here
        self.assertEqual((p.stats["taken"], len(F.DENSE_CALLS)), (0, 1))
        done.set()
        a.join(10)
        self.assertEqual(p.stats["taken"], 1)
        p.remove()


if __name__ == "__main__":
    r = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=0).result
    if r.wasSuccessful():
        print(f"ok {r.testsRun}")
    sys.exit(0 if r.wasSuccessful() else 1)
