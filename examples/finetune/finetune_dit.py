"""Fine-tuning a small DiT-like model with a GRAT pattern (issue 21), next to the same run with
PyTorch's SDPA given the pattern's dense boolean mask: same initial weights, same data, same seed.

The model is examples/flux_model.py's MMDiT at a small width (double- and single-stream blocks,
RoPE, QK-norm, adaLN) behind a token embedding; every attention call is
F.scaled_dot_product_attention(q, k, v) on [batch, heads, tokens, 64]. The task needs no download:
rectified-flow denoising of procedurally drawn latents (16 channels on a 48x48 token grid) with
structure at three scales (a low-frequency background, shapes of 3-12 tokens, a texture of 1-2
tokens), conditioned on a short prompt that describes them (up to 26 tokens, padded to 32; the
padding is masked per sample by text_valid). The attention pattern, finetune_dit_b.grat beside this file,
is GRAT-B: 8x8-token groups, each sees its 3x3 neighbouring groups and the prompt; the prompt sees
everything.

Methods (each trains from the same initial state; bf16 autocast, fp32 weights, AdamW):
  masked  the reference: SDPA with the pattern's boolean mask [batch, 1, N, N] (one per prompt
          length, built once from bench/pipeline/masks.py's mask_mod, which CI compares with
          compiler/reference.ts), i.e. what the sparse kernel must reproduce
  gratc   the generated package's grat.plug(model, text_valid=..., strict=True): every attention
          call runs the gratc forward kernel and its backward kernels (strict: none may run dense)
  flex    FlexAttention (torch.compile'd) with the block mask of the same mask_mod, rebuilt each
          step for the batch's prompt lengths (its time is in the step time, and also reported apart)
  dense   SDPA without a mask (full attention, padding included): a different model, for scale
Per step: the loss, and the wall time of mask preparation + forward + backward + optimizer step,
CUDA-synchronized (statistics after --warmup steps). At step 0 (same weights, same batch) the loss,
the first attention call's output and the gradients reaching its q, k, v (identical inputs in every
method: a direct check of the attention, forward and backward, inside the model) and the whole
gradient are compared with the reference's; over the run, the last steps' mean loss, against the
batch-to-batch noise of the loss (its standard error over those steps).

    examples/finetune/emit.sh         # here (has Node): the package, .gen/finetune/finetune_dit_b_48x48
    python3 examples/finetune/finetune_dit.py .gen/finetune/finetune_dit_b_48x48 --out /tmp/out   # on the GPU
    python3 examples/finetune/finetune_dit.py --plot /tmp/out/finetune.json                       # the PNG again

Writes OUT/finetune.json (card, date, versions, config, per-method losses and step times, the
comparison) and OUT/finetune_loss.png (matplotlib, where installed). `--device cpu` runs the same
logic on a CPU build of torch (what test/examples.finetune.test.ts does at a tiny size, with the
package's ops given CPU kernels: there is no CPU kernel in the package itself).
"""
import argparse
import contextlib
import importlib
import json
import math
import os
import subprocess
import sys
import time
import traceback
from dataclasses import replace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METHODS = ("masked", "gratc", "flex", "dense")


def parse_grid(text):
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"grid must be HxW, e.g. 48x48; got {text!r}")
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"grid sizes must be positive, got {text!r}")
    return h, w


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Writes OUT/finetune.json and OUT/finetune_loss.png.")
    p.add_argument("package", nargs="?", default=os.path.join(ROOT, ".gen", "finetune", "finetune_dit_b_48x48"),
                   help="the generated package's folder (default .gen/finetune/finetune_dit_b_48x48)")
    p.add_argument("--plot", metavar="JSON", help="only draw OUT/finetune_loss.png again from a finetune.json")
    p.add_argument("--methods", default="masked,gratc,flex,dense", help="any of masked, gratc, flex, dense (default: all, in that order)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the time statistics")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--grid", type=parse_grid, default=(48, 48), help="latent token grid HxW (the package's, when grid-bound)")
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--heads", type=int, default=8, help="head_dim = width / heads must be the package's (64)")
    p.add_argument("--depth", default="2,4", help="double-stream, single-stream blocks")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-warmup", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default=os.environ.get("OUT", "/tmp/out"))
    p.add_argument("--time-budget", type=float, default=float(os.environ.get("TIME_BUDGET_S", "520")),
                   help="seconds: methods not started by then are skipped (default 520)")
    p.add_argument("--tol-loss0", type=float, default=1e-2, help="step-0 loss relative difference counted as agreement")
    p.add_argument("--tol-attn0-out", type=float, default=2e-2,
                   help="step 0: relative l2 difference of the first attention call's output (same inputs) counted as agreement")
    p.add_argument("--tol-attn0-grad", type=float, default=8e-2,
                   help="step 0: relative l2 difference of the gradients reaching that call's q, k, v (they come through every "
                        "later block, so the rounding of all of them adds up) counted as agreement")
    a = p.parse_args(argv)
    a.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if set(a.methods) - set(METHODS) or not a.methods:
        p.error(f"--methods: unknown {sorted(set(a.methods) - set(METHODS))}; choose from {', '.join(METHODS)}")
    try:
        a.depth = tuple(int(x) for x in a.depth.split(","))
        assert len(a.depth) == 2 and min(a.depth) >= 0 and sum(a.depth) > 0
    except (ValueError, AssertionError):
        p.error(f"--depth must be two counts 'double,single', got {a.depth!r}")
    if a.width % a.heads:
        p.error(f"--width {a.width} must divide by --heads {a.heads}")
    if a.steps < 1 or not 0 <= a.warmup < a.steps:
        p.error("--steps must be positive and --warmup below it")
    return a


if __name__ == "__main__":
    parse_args(sys.argv[1:])  # --help and argument errors answer before torch loads (seconds); main() parses again

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path[:0] = [os.path.join(ROOT, "examples"), os.path.join(ROOT, "bench", "pipeline"), os.path.join(ROOT, "bench")]
import flux_model  # noqa: E402
import provenance  # noqa: E402  (bench/provenance.py: card, date, versions)
import masks  # noqa: E402

PATTERN = masks.PATTERNS["finetune_dit_b"]
SDPA = F.scaled_dot_product_attention  # PyTorch's own, before anything replaces it
CHANNELS = 16  # latent channels per token

# ---------------- the data: procedural latents and the prompts that describe them ----------------
# Prompt vocabulary: PAD, BOS, then one range per attribute.
N_BG, N_SHAPE, N_POS, N_SIZE, N_COLOR, N_TEX, MAX_OBJECTS = 8, 4, 12, 4, 8, 4, 4
_RANGES = {}
_next = 2
for _name, _n in (("bg", N_BG), ("shape", N_SHAPE), ("x", N_POS), ("y", N_POS), ("size", N_SIZE), ("color", N_COLOR), ("tex", N_TEX)):
    _RANGES[_name] = _next
    _next += _n
VOCAB = _next
PROMPT_MAX = 2 + 6 * MAX_OBJECTS  # BOS, background, then 6 tokens an object


class Data:
    """Batches of (latent [B, H*W, C] in raster order, prompt [B, T] token ids, prompt lengths [B]),
    a function of (seed, step) only: every method sees the same batches. Attribute tables (colours,
    background waves) come from a fixed seed, the same in every run."""

    def __init__(self, grid, text, batch, seed, device):
        if text < PROMPT_MAX:
            raise ValueError(f"the pattern's text count {text} is below the longest prompt ({PROMPT_MAX})")
        self.grid, self.text, self.batch, self.seed, self.device = grid, text, batch, seed, device
        g = torch.Generator().manual_seed(1234)
        self.colors = F.normalize(torch.randn(N_COLOR, CHANNELS, generator=g), dim=-1).mul(2.0).to(device)
        self.bg_colors = F.normalize(torch.randn(N_BG, CHANNELS, generator=g), dim=-1).mul(0.8).to(device)
        self.bg_freq = (torch.rand(N_BG, 2, 2, generator=g) * 2 - 1).mul(2 * math.pi / 24).to(device)  # 2 waves, (fy, fx)
        H, W = grid
        self.yy, self.xx = torch.meshgrid(torch.arange(H, device=device, dtype=torch.float32),
                                          torch.arange(W, device=device, dtype=torch.float32), indexing="ij")
        self.gain = 1.0
        self.gain = 1.0 / self._latents(torch.Generator(device=device).manual_seed(999), 64)[0].std().item()  # unit variance

    def batch_at(self, step):
        g = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + step)
        latent, prompt, valid = self._latents(g, self.batch)
        # rectified flow: x_t = (1 - t) noise + t data, target velocity data - noise; t logit-normal
        noise = torch.randn(latent.shape, generator=g, device=self.device)
        t = torch.sigmoid(torch.randn(self.batch, generator=g, device=self.device))
        xt = (1 - t[:, None, None]) * noise + t[:, None, None] * latent
        return dict(xt=xt, t=t, prompt=prompt, valid=valid, target=latent - noise)

    def _latents(self, g, B):
        H, W = self.grid
        ri = lambda n, *s: torch.randint(0, n, s, generator=g, device=self.device)  # noqa: E731
        bg = ri(N_BG, B)
        n_obj = ri(MAX_OBJECTS, B) + 1
        shape, px, py, size, color, tex = ri(N_SHAPE, B, MAX_OBJECTS), ri(N_POS, B, MAX_OBJECTS), ri(N_POS, B, MAX_OBJECTS), \
            ri(N_SIZE, B, MAX_OBJECTS), ri(N_COLOR, B, MAX_OBJECTS), ri(N_TEX, B, MAX_OBJECTS)
        jitter = torch.rand(B, MAX_OBJECTS, 2, generator=g, device=self.device) - 0.5
        phase = torch.rand(B, 2, generator=g, device=self.device) * 2 * math.pi
        # background: two plane waves of the background's table entry, times its colour
        f = self.bg_freq[bg]  # [B, 2 waves, 2]
        y, x = self.yy[None, None], self.xx[None, None]
        wave = torch.cos(f[..., 0, None, None] * y + f[..., 1, None, None] * x + phase[..., None, None]).sum(1)  # [B, H, W]
        img = wave[..., None] * self.bg_colors[bg][:, None, None, :]
        # objects, painted in order over the background (later ones on top)
        scale = min(H, W) / 48
        for o in range(MAX_OBJECTS):
            cy = (py[:, o].float() + 0.5 + jitter[:, o, 0]) * H / N_POS
            cx = (px[:, o].float() + 0.5 + jitter[:, o, 1]) * W / N_POS
            r = torch.tensor([3.0, 5.0, 8.0, 12.0], device=self.device)[size[:, o]] * scale
            dy, dx = self.yy[None] - cy[:, None, None], self.xx[None] - cx[:, None, None]
            d = torch.sqrt(dy ** 2 + dx ** 2)
            r_ = r[:, None, None]
            s = shape[:, o, None, None]
            inside = torch.where(s == 0, d < r_,
                     torch.where(s == 1, torch.maximum(dy.abs(), dx.abs()) < r_,
                     torch.where(s == 2, (d - r_).abs() < (r_ / 3).clamp(min=1.0),
                                 ((dy.abs() < r_ / 3) & (dx.abs() < r_)) | ((dx.abs() < r_ / 3) & (dy.abs() < r_)))))
            t = tex[:, o, None, None]
            yi, xi = self.yy[None].long(), self.xx[None].long()
            texture = torch.where(t == 0, torch.ones_like(d),
                      torch.where(t == 1, 0.6 + 0.4 * torch.cos(math.pi * yi.float() / 2),
                      torch.where(t == 2, 0.2 + 0.8 * ((yi // 2 + xi // 2) % 2).float(),
                                  0.6 + 0.4 * torch.cos(math.pi * xi.float()) * torch.cos(math.pi * yi.float()))))
            paint = (inside & (o < n_obj)[:, None, None]).float()[..., None]
            img = img * (1 - paint) + paint * texture[..., None] * self.colors[color[:, o]][:, None, None, :]
        latent = img.reshape(B, H * W, CHANNELS) * self.gain
        # the prompt: BOS, background, then (shape, x, y, size, colour, texture) per object; PAD after
        per_obj = torch.stack([_RANGES["shape"] + shape, _RANGES["x"] + px, _RANGES["y"] + py, _RANGES["size"] + size,
                               _RANGES["color"] + color, _RANGES["tex"] + tex], dim=-1).reshape(B, 6 * MAX_OBJECTS)
        prompt = torch.cat([torch.ones(B, 1, dtype=torch.long, device=self.device), (_RANGES["bg"] + bg)[:, None], per_obj], dim=1)
        valid = 2 + 6 * n_obj
        prompt = prompt.masked_fill(torch.arange(PROMPT_MAX, device=self.device)[None] >= valid[:, None], 0)
        prompt = F.pad(prompt, (0, self.text - PROMPT_MAX))
        return latent, prompt, valid.to(torch.int32)


# ---------------- the model ----------------
class PromptDiT(nn.Module):
    """MMDiT (examples/flux_model.py) behind a prompt embedding: txt = embed(prompt), the pooled
    vector = the mean embedding of the prompt's valid tokens."""

    def __init__(self, config):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, config.context)
        self.dit = flux_model.MMDiT(config)

    def forward(self, xt, t, prompt, valid, img_ids, txt_ids):
        txt = self.embed(prompt)
        keep = (torch.arange(prompt.shape[1], device=prompt.device)[None] < valid[:, None]).to(txt.dtype)
        pooled = (txt * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)
        return self.dit(xt, img_ids, txt, txt_ids, t, pooled)


def model_config(width, heads, depth, text):
    hd = width // heads
    a0 = hd // 8  # RoPE dims: a little for axis 0 (constant here, as in Flux), the rest split over rows and columns
    rest = (hd - a0) // 2
    return replace(flux_model.FLUX_DEV, in_channels=CHANNELS, hidden=width, heads=heads, depth=depth[0], depth_single=depth[1],
                   axes=(hd - 2 * rest, rest, rest), context=64, vector=64, text_tokens=text, guidance=False)


# ---------------- attention for each method ----------------
def plain_call(attn_mask, dropout_p, is_causal, enable_gqa):
    if attn_mask is not None or dropout_p or is_causal or enable_gqa:
        raise AssertionError("the model makes plain SDPA calls only")


class Masked:
    """SDPA with the pattern's boolean mask, one [N, N] mask per prompt length (built once from
    masks.mask_mod), gathered per step into [B, 1, N, N]."""

    def __init__(self, grid, device):
        self.grid, self.device, self.cache, self.mask = grid, device, {}, None
        self.n = masks.tokens(PATTERN, grid)

    def _one(self, valid):
        if valid not in self.cache:
            i = torch.arange(self.n, device=self.device, dtype=torch.int32)
            self.cache[valid] = torch.as_tensor(masks.mask_mod(PATTERN, self.grid, valid)(0, 0, i[:, None], i[None, :]))
        return self.cache[valid]

    def prepare(self, valid):
        self.mask = torch.stack([self._one(int(n)) for n in valid.tolist()])[:, None]

    def __call__(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        plain_call(attn_mask, dropout_p, is_causal, enable_gqa)
        return SDPA(q, k, v, attn_mask=self.mask, scale=scale)


class Flex:
    """FlexAttention with the pattern's block mask for this batch's prompt lengths (mask_mod with one
    count per sample, read from a buffer the step fills: the block mask's compiled builder is traced once)."""

    def __init__(self, grid, batch, device):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        self.eager_create, self.create = create_block_mask, torch.compile(create_block_mask)
        self.kernel = torch.compile(flex_attention, dynamic=False)
        self.note = None
        self.n, self.batch, self.device = masks.tokens(PATTERN, grid), batch, device
        self.valid = torch.zeros(batch, dtype=torch.int32, device=device)
        self.mod = masks.mask_mod(PATTERN, grid, self.valid)
        self.block_mask = None

    def prepare(self, valid):
        self.valid.copy_(valid)
        try:
            self.block_mask = self.create(self.mod, B=self.batch, H=None, Q_LEN=self.n, KV_LEN=self.n, device=self.device)
        except Exception as ex:  # (a torch whose compile of the builder fails: the eager builder, slower but the same mask)
            if self.create is self.eager_create:
                raise
            self.note = f"compiled create_block_mask failed ({type(ex).__name__}: {str(ex)[:200]}); eager builder used"
            print("flex:", self.note)
            self.create = self.eager_create
            self.prepare(valid)

    def __call__(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        plain_call(attn_mask, dropout_p, is_causal, enable_gqa)
        return self.kernel(q, k, v, block_mask=self.block_mask, scale=scale)


class Plugged:
    """The gratc package's plug (strict: a call that would run dense raises)."""

    def __init__(self, grat, model):
        self.plug = grat.plug(model, text_valid=None, strict=True)

    def prepare(self, valid):
        self.plug.text_valid = valid  # an int32 tensor on the device: one count per sample


class Capture:
    """Wraps whatever F.scaled_dot_product_attention is inside a method's setup (the masked or Flex
    function, the plug's dispatcher, PyTorch's SDPA) and, while armed, keeps the first call's output
    and the gradients that reach its q, k and v: at step 0 that call (the first block's) has the
    same inputs in every method, so it compares the attentions themselves, forward and backward."""

    def __init__(self):
        self.inner, self.armed, self.got = None, False, {}

    def call(self, q, k, v, *args, **kwargs):
        out = self.inner(q, k, v, *args, **kwargs)
        if self.armed:
            self.armed = False
            self.got["out"] = out.detach().float()
            for name, x in (("dq", q), ("dk", k), ("dv", v)):
                if x.requires_grad:
                    x.register_hook(lambda g, name=name: self.got.__setitem__(name, g.detach().float()))
        return out

    @contextlib.contextmanager
    def around(self):
        self.inner = F.scaled_dot_product_attention

        def scaled_dot_product_attention(q, k, v, *args, **kwargs):  # (a function: Dynamo inspects what F holds)
            return self.call(q, k, v, *args, **kwargs)

        F.scaled_dot_product_attention = scaled_dot_product_attention
        try:
            yield
        finally:
            F.scaled_dot_product_attention = self.inner


# ---------------- training ----------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flat_grad(model):
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().flatten() for p in model.parameters()])


def train(method, model, init, data, args, device, ids, grat=None):
    """One training run from `init`; returns the method's record (losses, step times, ...) and its
    step-0 tensors: the whole gradient (flattened, float32) and the first attention call's output
    and input gradients (Capture)."""
    model.load_state_dict(init)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, args.lr_warmup)))
    rec = {"method": method, "losses": [], "step_ms": [], "prepare_ms": []}
    img_ids, txt_ids = ids
    grad0 = None
    if method == "masked":
        attn = Masked(args.grid, device)
    elif method == "flex":
        attn = Flex(args.grid, args.batch, device)
    elif method == "gratc":
        attn = Plugged(grat, model)
    else:
        attn = None
    ctx = flux_model.sdpa_replaced(attn) if method in ("masked", "flex") else contextlib.nullcontext()
    cap = Capture()
    try:
        with ctx, cap.around():
            for step in range(args.steps):
                b = data.batch_at(step)
                sync(device)
                t0 = time.perf_counter()
                if attn is not None:
                    attn.prepare(b["valid"])
                sync(device)
                t1 = time.perf_counter()
                cap.armed = step == 0
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    pred = model(b["xt"], b["t"], b["prompt"], b["valid"], img_ids, txt_ids)
                loss = F.mse_loss(pred.float(), b["target"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if step == 0:
                    grad0 = dict(cap.got, grad=flat_grad(model))
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                sync(device)
                t2 = time.perf_counter()
                rec["losses"].append(loss.item())
                rec["step_ms"].append(round((t2 - t0) * 1e3, 3))
                rec["prepare_ms"].append(round((t1 - t0) * 1e3, 3))
                if not math.isfinite(rec["losses"][-1]):
                    raise FloatingPointError(f"loss {rec['losses'][-1]} at step {step}")
                if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
                    print(f"  {method:6s} step {step:4d}  loss {rec['losses'][-1]:.4f}  {rec['step_ms'][-1]:8.2f} ms", flush=True)
        if method == "flex" and attn.note:
            rec["note"] = attn.note
        if method == "gratc":
            st = attn.plug.stats
            rec["plug"] = {"stats": st, "report": attn.plug.report(),
                           "all_taken": st["taken"] == args.steps * model.dit.attention_calls and not st["passed"]}
    finally:
        if method == "gratc":
            attn.plug.remove()
    timed = rec["step_ms"][args.warmup:]
    if timed:
        rec["median_step_ms"] = sorted(timed)[len(timed) // 2]
        rec["mean_step_ms"] = sum(timed) / len(timed)
        prep = rec["prepare_ms"][args.warmup:]
        rec["median_prepare_ms"] = sorted(prep)[len(prep) // 2]
    return rec, grad0


# ---------------- comparison ----------------
def moving_average(xs, w):
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x - (xs[i - w] if i >= w else 0.0)
        out.append(acc / min(i + 1, w))
    return out


def compare(rec, ref, grad, grad_ref, args):
    """How `rec` differs from the reference run `ref`: step 0 (same weights, same batch: only the
    attention's rounding differs) and the last K steps' mean loss against the loss's step-to-step
    noise (the residual of the reference around its moving average)."""
    a, r = rec["losses"], ref["losses"]
    n = min(len(a), len(r))
    out = {"loss0": a[0], "loss0_ref": r[0], "loss0_rel_diff": abs(a[0] - r[0]) / abs(r[0])}
    rel = lambda x, y: ((x - y).norm() / y.norm()).item()  # noqa: E731
    if grad is not None and grad_ref is not None:
        out["grad0_rel_l2"] = rel(grad["grad"], grad_ref["grad"])
        out["grad0_cos"] = F.cosine_similarity(grad["grad"], grad_ref["grad"], dim=0).item()
        for key in ("out", "dq", "dk", "dv"):  # the first attention call (Capture)
            if key in grad and key in grad_ref:
                out[f"attn0_{key}_rel_l2"] = rel(grad[key], grad_ref[key])
    K = max(1, min(100, n // 4))
    w = max(1, min(25, n // 8))
    smooth = moving_average(r[:n], w)
    resid = [x - s for x, s in zip(r[:n], smooth)][w:] or [0.0]
    sigma = (sum(x * x for x in resid) / len(resid)) ** 0.5  # per-step noise of the loss
    mean_a, mean_r = sum(a[n - K:n]) / K, sum(r[n - K:n]) / K
    d = [x - y for x, y in zip(a[n - K:n], r[n - K:n])]
    dm = sum(d) / K
    dsd = (sum((x - dm) ** 2 for x in d) / max(1, K - 1)) ** 0.5
    se = sigma / K ** 0.5  # standard error of one run's K-step mean, from the batch-to-batch noise
    sm_a = moving_average(a[:n], w)
    out.update(last_k=K, last_k_mean=mean_a, last_k_mean_ref=mean_r, last_k_rel_diff=abs(mean_a - mean_r) / abs(mean_r),
               step_noise_sigma=sigma, last_k_diff_in_se=abs(mean_a - mean_r) / se if se > 0 else None,
               paired_t=dm / (dsd / K ** 0.5) if dsd > 0 else None,
               smoothed_max_abs_diff=max(abs(x - y) for x, y in zip(sm_a[w:], smooth[w:])) if n > w else None,
               first_mean=sum(a[:min(20, n)]) / min(20, n))
    grads = [out.get(f"attn0_{key}_rel_l2") for key in ("dq", "dk", "dv")]
    out["agree_step0"] = (out["loss0_rel_diff"] < args.tol_loss0 and out.get("attn0_out_rel_l2", 1.0) < args.tol_attn0_out
                          and None not in grads and max(grads) < args.tol_attn0_grad)
    out["agree_curve"] = se > 0 and abs(mean_a - mean_r) < 3 * se
    return out


# ---------------- kernel builds (in the background, while the reference trains) ----------------
def start_builds(folder, grat, module, device):
    """nvcc builds of the package's libraries in parallel processes: the sm_80 one (the backward,
    and the forward on non-Hopper cards) and, on compute capability 9.0, the sm_90a forward (what
    the package's arch_for picks there, GRAT_CUDA_ARCH included)."""
    archs = sorted({"sm80", grat._build.arch_for(device)})
    code = "import sys, importlib; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2]).load_library(arch=sys.argv[3])"
    procs = []
    for arch in archs:
        procs.append((arch, time.time(), subprocess.Popen([sys.executable, "-c", code, folder, module, arch],
                                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    return procs


def wait_builds(procs):
    out = []
    for arch, t0, p in procs:
        log, _ = p.communicate()
        rec = {"arch": arch, "ok": p.returncode == 0, "seconds": round(time.time() - t0, 1)}
        if p.returncode != 0:
            rec["log"] = log[-3000:]
        print(f"build {arch}: {'ok' if rec['ok'] else 'FAILED'} ({rec['seconds']} s)" + ("" if rec["ok"] else "\n" + rec["log"]), flush=True)
        out.append(rec)
    return out


def import_package(folder):
    """The generated package in `folder` (the folder gratc compile --out wrote: pyproject.toml and
    the package directory): (module, its name)."""
    folder = os.path.abspath(folder)
    names = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "__init__.py")))
    if not names:
        raise SystemExit(f"{folder}: no generated package in it (run examples/finetune/emit.sh)")
    sys.path.insert(0, folder)
    return importlib.import_module(names[0]), names[0]


# ---------------- output ----------------
def plot(result, path):
    """The loss curves (per step, thin; moving average, thick) and the difference of each method's
    moving average from the reference's, with the step-to-step noise as a band. Returns a note."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no PNG (python3 examples/finetune/finetune_dit.py --plot FINETUNE_JSON where it is)"
    runs = {m: r for m, r in result["methods"].items() if r.get("losses")}
    if not runs:
        return "no run to plot"
    n = max(len(r["losses"]) for r in runs.values())
    w = max(1, min(25, n // 8))
    colors = {"masked": "black", "gratc": "tab:red", "flex": "tab:blue", "dense": "tab:gray"}
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    for m, r in runs.items():
        ms = r.get("median_step_ms")
        label = f"{m}" + (f" ({ms:.1f} ms/step)" if ms is not None else "")
        c = colors.get(m)
        ax.plot(r["losses"], color=c, alpha=0.22, lw=0.7)
        ax.plot(moving_average(r["losses"], w), color=c, lw=1.8, label=label)
    ax.set_ylabel("flow-matching loss (MSE)")
    ax.set_yscale("log")
    ax.legend()
    cfg = result["config"]
    ax.set_title(f"{cfg['pattern']} on {cfg['grid']} + {cfg['text']} text tokens, width {cfg['width']}, "
                 f"{cfg['depth'][0]}+{cfg['depth'][1]} blocks, batch {cfg['batch']}\n{result['card']}, torch {result['versions']['torch']}",
                 fontsize=9)
    ref = runs.get("masked")
    if ref is not None:
        sr = moving_average(ref["losses"], w)
        sigma = result.get("comparison", {}).get("gratc", {}).get("step_noise_sigma")
        if sigma:
            bx.axhspan(-sigma / w ** 0.5, sigma / w ** 0.5, color="tab:green", alpha=0.15, label=f"noise of a {w}-step mean (±σ/√{w})")
        for m, r in runs.items():
            if m != "masked":
                sm = moving_average(r["losses"], w)
                bx.plot([a - b for a, b in zip(sm, sr)], color=colors.get(m), lw=1.2, label=f"{m} − masked")
        bx.axhline(0, color="black", lw=0.6)
        bx.set_ylabel(f"Δ {w}-step mean")
        bx.legend(fontsize=8)
    bx.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def main(argv=None):
    t_start = time.time()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.out, exist_ok=True)
    if args.plot:
        with open(args.plot) as f:
            result = json.load(f)
        png = os.path.join(args.out, "finetune_loss.png")
        note = plot(result, png)
        print(note or f"wrote {png}")
        return 0 if note is None else 1
    device = torch.device(args.device)
    grat, module, procs = None, None, []
    if "gratc" in args.methods:
        grat, module = import_package(args.package)
        if grat.PATTERN != PATTERN.name or grat.HEAD_DIM != args.width // args.heads:
            raise SystemExit(f"{args.package}: package of pattern {grat.PATTERN!r}, head_dim {grat.HEAD_DIM}; this example needs "
                             f"{PATTERN.name!r} with head_dim {args.width // args.heads}")
        if device.type == "cuda":
            procs = start_builds(args.package, grat, module, device)
    config = model_config(args.width, args.heads, args.depth, PATTERN.text)
    result = {**provenance.header(torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type} (smoke run)"),
              "config": {"pattern": PATTERN.name, "grid": "x".join(map(str, args.grid)), "text": PATTERN.text,
                         "tokens": masks.tokens(PATTERN, args.grid), "width": args.width, "heads": args.heads,
                         "head_dim": args.width // args.heads, "depth": list(args.depth), "batch": args.batch, "steps": args.steps,
                         "warmup": args.warmup, "lr": args.lr, "lr_warmup": args.lr_warmup, "seed": args.seed, "methods": args.methods,
                         "optimizer": "AdamW(betas=(0.9, 0.95), weight_decay=0.01), grad clip 1.0", "autocast": "bfloat16",
                         "package": os.path.relpath(os.path.abspath(args.package), ROOT) if grat else None,
                         "kernel": getattr(grat, "KERNEL", None)},
              "builds": [], "methods": {}, "comparison": {}, "notes": []}
    out_json = os.path.join(args.out, "finetune.json")

    def save():
        with open(out_json, "w") as f:
            json.dump(result, f, indent=1)

    torch.manual_seed(args.seed)
    model = PromptDiT(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    result["config"]["parameters"] = n_params
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    data = Data(args.grid, PATTERN.text, args.batch, args.seed, device)
    ids = flux_model.positions(args.grid, PATTERN.text, args.batch, device=device)
    mask_density = None
    with torch.no_grad():
        i = torch.arange(masks.tokens(PATTERN, args.grid), device=device, dtype=torch.int32)
        mask_density = torch.as_tensor(masks.mask_mod(PATTERN, args.grid, None)(0, 0, i[:, None], i[None, :])).float().mean().item()
    result["config"]["mask_density_full_text"] = round(mask_density, 4)
    print(f"{result['card']}: {n_params / 1e6:.1f} M parameters, {result['config']['tokens']} tokens, "
          f"{PATTERN.name} density {mask_density:.3f}, methods {', '.join(args.methods)}", flush=True)
    save()
    grads = {}
    for method in args.methods:
        if time.time() - t_start > args.time_budget:
            result["methods"][method] = {"skipped": f"time budget ({args.time_budget:.0f} s) spent"}
            print(f"skip {method}: time budget")
            continue
        if method == "gratc" and procs:
            result["builds"] = wait_builds(procs)
            procs = []
            if not all(b["ok"] for b in result["builds"]):
                result["methods"][method] = {"error": "kernel build failed"}
                save()
                continue
        print(f"{method}:", flush=True)
        try:
            rec, grads[method] = train(method, model, init, data, args, device, ids, grat)
        except Exception as ex:
            rec = {"error": f"{type(ex).__name__}: {str(ex)[:600]}"}
            traceback.print_exc(limit=6)
        result["methods"][method] = rec
        if method != "masked" and "masked" in grads and rec.get("losses"):
            result["comparison"][method] = compare(rec, result["methods"]["masked"], grads.get(method), grads["masked"], args)
        save()
    if procs:
        result["builds"] = wait_builds(procs)
    del grads
    try:
        note = plot(result, os.path.join(args.out, "finetune_loss.png"))
    except Exception as ex:  # the run's numbers are in the JSON whatever happens to the picture
        note = f"plot failed ({type(ex).__name__}: {str(ex)[:300]}); --plot FINETUNE_JSON draws it again"
        traceback.print_exc(limit=4)
    if note:
        result["notes"].append(note)
    result["seconds"] = round(time.time() - t_start, 1)
    save()
    summarize(result, out_json)
    # exit status: every method ran, and gratc's step 0 matches the reference where both ran
    ok = all("error" not in r for r in result["methods"].values()) and result["comparison"].get("gratc", {}).get("agree_step0", True)
    return 0 if ok else 1


def summarize(result, out_json):
    print(f"\n{'method':8s} {'median ms/step':>14s} {'(mask prep)':>11s} {'loss step 0':>11s} {'first 20':>9s} {'last K':>9s}  vs masked")
    for m, r in result["methods"].items():
        if "losses" not in r:
            print(f"{m:8s} {r.get('error') or r.get('skipped')}")
            continue
        c = result["comparison"].get(m)
        K = c["last_k"] if c else min(100, max(1, len(r["losses"]) // 4))
        first = sum(r["losses"][:20]) / len(r["losses"][:20])
        last = sum(r["losses"][-K:]) / K
        vs = ""
        if c:
            se = f"{c['last_k_diff_in_se']:.1f} SE" if c["last_k_diff_in_se"] is not None else "? SE (no noise estimate)"
            attn = "/".join(f"{c[f'attn0_{key}_rel_l2']:.0e}" if f"attn0_{key}_rel_l2" in c else "?" for key in ("out", "dq", "dk", "dv"))
            vs = (f"step 0: loss {c['loss0_rel_diff']:.0e}, attention out/dq/dk/dv {attn}, all grads {c.get('grad0_rel_l2', float('nan')):.0e}"
                  f"{' ok' if c['agree_step0'] else ' DIFFERS'}; "
                  f"last {K}: Δ {c['last_k_rel_diff'] * 100:.2f}% = {se}{' (within noise)' if c['agree_curve'] else ' (not within 3 SE)'}")
        print(f"{m:8s} {r.get('median_step_ms', float('nan')):14.2f} {r.get('median_prepare_ms', float('nan')):11.2f} "
              f"{r['losses'][0]:11.4f} {first:9.4f} {last:9.4f}  {vs}")
        if "plug" in r:
            print("         " + r["plug"]["report"].replace("\n", "\n         ") + f"\n         all calls taken: {r['plug']['all_taken']}")
    for n in result["notes"]:
        print("note:", n)
    print(f"wrote {out_json} ({result.get('seconds', 0):.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
