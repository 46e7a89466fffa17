"""A Flux-architecture transformer (Flux-dev's MMDiT) in plain PyTorch, with random weights.

No diffusers, no downloads: the architecture of black-forest-labs' Flux-dev written out, for
timing whole forwards with different attention (bench/pipeline/e2e.py). 19 double-stream blocks
(image and text streams, each with its own adaLN modulation, QKV with RMS QK-norm and MLP,
joined for one attention over [text; image]) then 38 single-stream blocks (one fused linear for
QKV and the MLP), 3-axis RoPE (16/56/56 of the 128 head dims), 3072 wide, 24 heads x 128,
MLP ratio 4, modulation from a timestep + guidance + pooled-text vector. ~11.9 G parameters
(23.8 GB in bf16).

Every attention call is `F.scaled_dot_product_attention(q, k, v)` with q, k, v of shape
[batch, 24, tokens, 128] and no mask, looked up on `F` at call time, so a gratc plug (or any
replacement of that function) takes every one of them.

    import flux_model
    model = flux_model.build(depth=(19, 38))                 # on the GPU, bf16, seed 0
    inputs = flux_model.inputs(model.config, grid=(128, 128))  # a 2048x2048 image's latent
    out = model(**inputs)                                    # [1, 128 * 128, 64]

MMDiT (below) also serves the HunyuanVideo-like model (examples/hunyuan_model.py), whose text
comes after the video tokens: `Config.text_first` says where, and RoPE's positions say the rest.
"""
import contextlib
import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F


@contextlib.contextmanager
def sdpa_replaced(fn):
    """F.scaled_dot_product_attention is `fn` inside: how a bench swaps in another attention (a masked
    reference, FlexAttention). The models here look the function up on F at every call, as the
    gratc plug relies on too."""
    previous = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = fn
    try:
        yield
    finally:
        F.scaled_dot_product_attention = previous


@dataclass(frozen=True)
class Config:
    in_channels: int = 64  # a patchified latent: 16 channels x 2 x 2
    hidden: int = 3072
    heads: int = 24
    mlp_ratio: float = 4.0
    depth: int = 19  # double-stream blocks
    depth_single: int = 38
    axes: tuple = (16, 56, 56)  # RoPE dims per position axis; sums to head_dim
    theta: float = 10000.0
    context: int = 4096  # T5 features
    vector: int = 768  # pooled CLIP features
    text_tokens: int = 512
    text_first: bool = True  # Flux: [text; image]; HunyuanVideo: [video; text]
    guidance: bool = True  # Flux-dev is guidance-distilled: guidance is an input

    @property
    def head_dim(self):
        return self.hidden // self.heads


FLUX_DEV = Config()


def timestep_embedding(t, dim, max_period=10000.0, factor=1000.0):
    """Sinusoidal embedding of t in [0, 1] (scaled by 1000 as Flux does), cos then sin, float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (factor * t.float())[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(ids, axes, theta):
    """Rotation matrices for positions ids [B, N, len(axes)]: [B, 1, N, head_dim/2, 2, 2] float32.
    Axis a rotates axes[a]/2 consecutive pairs of head dims by position x frequency."""
    parts = []
    for a, dim in enumerate(axes):
        omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device) / dim)
        angle = ids[..., a].double()[..., None] * omega  # [B, N, dim/2]
        cos, sin = torch.cos(angle), torch.sin(angle)
        parts.append(torch.stack([cos, -sin, sin, cos], dim=-1).view(*angle.shape, 2, 2))
    return torch.cat(parts, dim=-3).unsqueeze(1).float()


def apply_rope(x, pe):
    """Rotates consecutive pairs of x's head dims ([B, H, N, D]) by pe (from rope), in float32."""
    xf = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = pe[..., 0] * xf[..., 0] + pe[..., 1] * xf[..., 1]
    return out.reshape(*x.shape).type_as(x)


class MLPEmbedder(nn.Module):
    def __init__(self, dim_in, hidden, **kw):
        super().__init__()
        self.inp, self.out = nn.Linear(dim_in, hidden, **kw), nn.Linear(hidden, hidden, **kw)

    def forward(self, x):
        return self.out(F.silu(self.inp(x)))


class RMSNorm(nn.Module):
    """QK-norm: RMS over head_dim in float32, times a learned scale."""

    def __init__(self, dim, **kw):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim, **kw))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * self.scale


class Modulation(nn.Module):
    """adaLN: (shift, scale, gate) triples from the conditioning vector, broadcast over tokens."""

    def __init__(self, hidden, triples, **kw):
        super().__init__()
        self.triples = triples
        self.lin = nn.Linear(hidden, 3 * triples * hidden, **kw)

    def forward(self, vec):
        out = self.lin(F.silu(vec))[:, None, :].chunk(3 * self.triples, dim=-1)
        return [out[3 * i:3 * i + 3] for i in range(self.triples)]


def modulate(x, shift, scale):
    return (1 + scale) * x + shift


def split_heads(qkv, heads):
    """[B, N, 3 * H * D] -> q, k, v of [B, H, N, D] (views)."""
    B, N, _ = qkv.shape
    return qkv.view(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)


def attention(q, k, v, pe):
    """RoPE, then SDPA over the joint sequence; [B, H, N, D] -> [B, N, H * D]."""
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    x = F.scaled_dot_product_attention(q, k, v)
    return x.transpose(1, 2).flatten(2)


class Stream(nn.Module):
    """One stream's weights in a double-stream block: modulation, QKV + QK-norm, proj, MLP."""

    def __init__(self, c, **kw):
        super().__init__()
        h, mlp = c.hidden, int(c.hidden * c.mlp_ratio)
        self.mod = Modulation(h, 2, **kw)
        self.norm1 = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6, **kw)
        self.qkv = nn.Linear(h, 3 * h, bias=True, **kw)
        self.q_norm, self.k_norm = RMSNorm(c.head_dim, **kw), RMSNorm(c.head_dim, **kw)
        self.proj = nn.Linear(h, h, **kw)
        self.norm2 = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6, **kw)
        self.mlp = nn.Sequential(nn.Linear(h, mlp, **kw), nn.GELU(approximate="tanh"), nn.Linear(mlp, h, **kw))

    def qkv_of(self, x, m, heads):
        shift, scale, _ = m
        q, k, v = split_heads(self.qkv(modulate(self.norm1(x), shift, scale)), heads)
        return self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype), v

    def finish(self, x, a, m1, m2):
        x = x + m1[2] * self.proj(a)
        return x + m2[2] * self.mlp(modulate(self.norm2(x), m2[0], m2[1]))


class DoubleStreamBlock(nn.Module):
    def __init__(self, c, **kw):
        super().__init__()
        self.heads, self.text_first = c.heads, c.text_first
        self.img, self.txt = Stream(c, **kw), Stream(c, **kw)

    def forward(self, img, txt, vec, pe):
        im1, im2 = self.img.mod(vec)
        tm1, tm2 = self.txt.mod(vec)
        iq, ik, iv = self.img.qkv_of(img, im1, self.heads)
        tq, tk, tv = self.txt.qkv_of(txt, tm1, self.heads)
        first, second = ((tq, tk, tv), (iq, ik, iv)) if self.text_first else ((iq, ik, iv), (tq, tk, tv))
        q, k, v = (torch.cat((a, b), dim=2) for a, b in zip(first, second))
        a = attention(q, k, v, pe)
        T = txt.shape[1]
        ta, ia = (a[:, :T], a[:, T:]) if self.text_first else (a[:, -T:], a[:, :-T])
        return self.img.finish(img, ia, im1, im2), self.txt.finish(txt, ta, tm1, tm2)


class SingleStreamBlock(nn.Module):
    """Attention and MLP in parallel from one fused input linear, joined by one output linear."""

    def __init__(self, c, **kw):
        super().__init__()
        h = c.hidden
        self.heads, self.mlp_hidden = c.heads, int(h * c.mlp_ratio)
        self.mod = Modulation(h, 1, **kw)
        self.norm = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6, **kw)
        self.linear1 = nn.Linear(h, 3 * h + self.mlp_hidden, **kw)
        self.linear2 = nn.Linear(h + self.mlp_hidden, h, **kw)
        self.q_norm, self.k_norm = RMSNorm(c.head_dim, **kw), RMSNorm(c.head_dim, **kw)

    def forward(self, x, vec, pe):
        (shift, scale, gate), = self.mod(vec)
        qkv, mlp = self.linear1(modulate(self.norm(x), shift, scale)).split([x.shape[-1] * 3, self.mlp_hidden], dim=-1)
        q, k, v = split_heads(qkv, self.heads)
        a = attention(self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype), v, pe)
        return x + gate * self.linear2(torch.cat((a, F.gelu(mlp, approximate="tanh")), dim=2))


class LastLayer(nn.Module):
    def __init__(self, c, **kw):
        super().__init__()
        self.norm = nn.LayerNorm(c.hidden, elementwise_affine=False, eps=1e-6, **kw)
        self.mod = nn.Linear(c.hidden, 2 * c.hidden, **kw)
        self.linear = nn.Linear(c.hidden, c.in_channels, **kw)

    def forward(self, x, vec):
        shift, scale = self.mod(F.silu(vec))[:, None, :].chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class MMDiT(nn.Module):
    """Flux's transformer: inputs as Flux takes them (patchified latent and its position ids,
    text features and their ids, timestep, pooled vector, guidance); output the latent's shape."""

    def __init__(self, c=FLUX_DEV, device=None, dtype=None):
        super().__init__()
        if sum(c.axes) != c.head_dim:
            raise ValueError(f"RoPE axes {c.axes} must sum to head_dim {c.head_dim}")
        kw = dict(device=device, dtype=dtype)
        self.config = c
        self.img_in = nn.Linear(c.in_channels, c.hidden, **kw)
        self.txt_in = nn.Linear(c.context, c.hidden, **kw)
        self.time_in = MLPEmbedder(256, c.hidden, **kw)
        self.guidance_in = MLPEmbedder(256, c.hidden, **kw) if c.guidance else None
        self.vector_in = MLPEmbedder(c.vector, c.hidden, **kw)
        self.double_blocks = nn.ModuleList(DoubleStreamBlock(c, **kw) for _ in range(c.depth))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(c, **kw) for _ in range(c.depth_single))
        self.final_layer = LastLayer(c, **kw)

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance=None):
        c = self.config
        img, txt = self.img_in(img), self.txt_in(txt)
        vec = self.time_in(timestep_embedding(timesteps, 256).to(img.dtype))
        if self.guidance_in is not None:
            vec = vec + self.guidance_in(timestep_embedding(guidance, 256).to(img.dtype))
        vec = vec + self.vector_in(y)
        ids = torch.cat((txt_ids, img_ids) if c.text_first else (img_ids, txt_ids), dim=1)
        pe = rope(ids, c.axes, c.theta)
        for block in self.double_blocks:
            img, txt = block(img, txt, vec, pe)
        x = torch.cat((txt, img) if c.text_first else (img, txt), dim=1)
        for block in self.single_blocks:
            x = block(x, vec, pe)
        T = txt.shape[1]
        img = x[:, T:] if c.text_first else x[:, :-T]
        return self.final_layer(img, vec)

    @property
    def attention_calls(self):
        """SDPA calls per forward: one per block."""
        return len(self.double_blocks) + len(self.single_blocks)


def build(depth=(19, 38), seed=0, device="cuda", dtype=torch.bfloat16, config=FLUX_DEV):
    """The model with random weights from `seed`, created directly on `device` in `dtype`
    (PyTorch's default initialisation; no CPU copy). depth = (double, single) blocks."""
    c = replace(config, depth=depth[0], depth_single=depth[1])
    torch.manual_seed(seed)
    with torch.no_grad():
        return MMDiT(c, device=device, dtype=dtype).eval().requires_grad_(False)


def positions(grid, text_tokens, batch=1, device="cuda"):
    """Flux's position ids: image token (r, c) -> (0, r, c) in raster order; text tokens -> 0."""
    h, w = grid
    r, c = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    img_ids = torch.stack([torch.zeros_like(r), r, c], dim=-1).reshape(1, h * w, 3).expand(batch, -1, -1)
    return img_ids.float(), torch.zeros(batch, text_tokens, 3, device=device)


def inputs(config, grid, batch=1, seed=1, device="cuda", dtype=torch.bfloat16):
    """Random inputs of one denoising step for a latent token grid (h, w): 16x16 pixels per token."""
    g = torch.Generator(device=device).manual_seed(seed)
    n = math.prod(grid)
    img_ids, txt_ids = positions(grid, config.text_tokens, batch, device)
    rand = lambda *s: torch.randn(*s, generator=g, device=device, dtype=torch.float32).to(dtype)  # noqa: E731
    return dict(img=rand(batch, n, config.in_channels), img_ids=img_ids,
                txt=rand(batch, config.text_tokens, config.context), txt_ids=txt_ids,
                timesteps=torch.full((batch,), 0.7, device=device), y=rand(batch, config.vector),
                guidance=torch.full((batch,), 3.5, device=device) if config.guidance else None)


if __name__ == "__main__":
    # a quick look on a GPU (or CPU): a 2 + 4 block model at 512x512
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m = build(depth=(2, 4), device=dev, dtype=torch.bfloat16 if dev == "cuda" else torch.float32)
    x = inputs(m.config, (32, 32), device=dev, dtype=next(m.parameters()).dtype)
    with torch.no_grad():
        out = m(**x)
    print(f"{sum(p.numel() for p in m.parameters()) / 1e9:.2f} G parameters (2 + 4 blocks), output {tuple(out.shape)}, "
          f"std {out.float().std().item():.3f}")
