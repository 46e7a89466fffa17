"""A HunyuanVideo-like transformer in plain PyTorch, with random weights (no downloads).

HunyuanVideo's dual-stream then single-stream design is Flux's MMDiT (examples/flux_model.py,
whose blocks this file reuses) with, for our purposes: 20 double + 40 single blocks, 3072 wide,
24 heads x 128, 3-D RoPE over (t, h, w) with 16/56/56 head dims and theta 256, and its 256 text
tokens placed AFTER the video tokens (examples/hunyuan_grat_b.grat, hunyuan_grat_x.grat). Text
tokens get no rotation (their positions are 0). ~12.5 G parameters.

Left out, as they do not change the attention calls or the per-token work much: the text
token refiner (here one linear from 4096 features), the Conv3d patch embedding (a linear over
1x2x2 patches of 16 channels is the same map: in_channels 64).

    import hunyuan_model
    model = hunyuan_model.build(depth=(20, 40))
    out = model(**hunyuan_model.inputs(model.config, grid=(33, 45, 80)))   # 720p, 129 frames
"""
import math
from dataclasses import replace

import torch

import flux_model

HUNYUAN = replace(flux_model.FLUX_DEV, depth=20, depth_single=40, theta=256.0, text_tokens=256, text_first=False)


def build(depth=(20, 40), seed=0, device="cuda", dtype=torch.bfloat16):
    """The model with random weights from `seed`, on `device` in `dtype`; depth = (double, single)."""
    return flux_model.build(depth, seed, device, dtype, config=HUNYUAN)


def positions(grid, text_tokens, batch=1, device="cuda"):
    """Video token (t, h, w) -> position (t, h, w) in raster order; text tokens -> 0 (no rotation)."""
    axes = [torch.arange(s, device=device) for s in grid]
    ids = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(1, math.prod(grid), 3).expand(batch, -1, -1)
    return ids.float(), torch.zeros(batch, text_tokens, 3, device=device)


def inputs(config, grid, batch=1, seed=1, device="cuda", dtype=torch.bfloat16):
    """Random inputs of one denoising step for a latent token grid (t, h, w)."""
    x = flux_model.inputs(config, (math.prod(grid), 1), batch, seed, device, dtype)
    x["img_ids"], x["txt_ids"] = positions(grid, config.text_tokens, batch, device)
    return x


if __name__ == "__main__":
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m = build(depth=(2, 4), device=dev, dtype=torch.bfloat16 if dev == "cuda" else torch.float32)
    x = inputs(m.config, (5, 6, 8), device=dev, dtype=next(m.parameters()).dtype)
    with torch.no_grad():
        out = m(**x)
    print(f"{sum(p.numel() for p in m.parameters()) / 1e9:.2f} G parameters (2 + 4 blocks), output {tuple(out.shape)}")
