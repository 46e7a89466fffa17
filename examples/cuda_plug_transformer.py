"""Plugging a gratc CUDA kernel into an existing PyTorch model in two lines.

    gratc compile examples/cuda_dit_b.grat --target cuda --out build/cuda_dit_b
    python3 examples/cuda_plug_transformer.py build/cuda_dit_b
(or `pip install build/cuda_dit_b` once, then the import works from anywhere.)

The model below is an ordinary transformer that calls F.scaled_dot_product_attention. After
`grat.plug(model)`, its attention calls with the pattern's shape run the sparse kernel (text
padding masked by `text_valid`); other calls still go to SDPA (strict=True here: none may).
plug.report() says how many calls ran sparse and, by reason, how many dense. The script checks the plugged
model against the same model given the equivalent dense mask, and times both.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "build/cuda_dit_b")
import grat_cuda_dit_b as grat  # noqa: E402  (the package gratc generated)


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mask = None  # only for the dense-mask comparison below

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, N, 3, self.heads, C // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, heads, N, head_dim]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)
        x = x + self.proj(a.transpose(1, 2).reshape(B, N, C))
        return x + self.mlp(self.norm2(x))


class TinyDiT(nn.Module):
    def __init__(self, width=256, heads=4, depth=4):
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def dense_mask(valid):
    """The pattern written out by hand (for the comparison only): raster order, text first."""
    H, W = grat.GRID
    gh, gw = grat.GROUP
    T = grat.TEXT_COUNT
    idx = torch.arange(H * W, device="cuda")
    gy, gx = (idx // W) // gh, (idx % W) // gw
    img = ((gy[:, None] - gy[None, :]).abs() <= 1) & ((gx[:, None] - gx[None, :]).abs() <= 1)
    m = torch.zeros(T + H * W, T + H * W, dtype=torch.bool, device="cuda")
    m[T:, T:] = img
    m[:, :valid] = True  # every query sees the valid text; text queries see everything valid
    m[:T, T:] = True
    return m


@torch.no_grad()
def main():
    torch.manual_seed(0)
    model = TinyDiT().cuda().to(torch.bfloat16).eval()
    x = torch.randn(2, grat.TOKENS, 256, device="cuda", dtype=torch.bfloat16)
    valid = 20

    for b in model.blocks:
        b.mask = dense_mask(valid)
    ref = model(x)
    for b in model.blocks:
        b.mask = None

    plug = grat.plug(model, text_valid=valid, strict=True)  # <- the two lines: import the package, plug it in
    out = model(x)
    err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
    print(plug.report())
    print(f"relative difference to the dense-mask model: {err:.2e}")

    def ms(fn, n=20):
        fn(); torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(n):
            fn()
        e.record(); e.synchronize()
        return s.elapsed_time(e) / n

    t_plug = ms(lambda: model(x))
    plug.remove()
    for b in model.blocks:
        b.mask = dense_mask(valid)
    t_mask = ms(lambda: model(x))
    print(f"forward: {t_plug:.3f} ms plugged, {t_mask:.3f} ms with SDPA + dense mask")
    if not err < 2e-2:
        sys.exit("mismatch")


if __name__ == "__main__":
    main()
