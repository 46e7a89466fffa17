"""examples/finetune/finetune_dit.py on a CPU build of torch (no GPU, no nvcc), at a tiny size:
    <python with torch> finetune_smoke.py <config.json>
config: {"package": the generated package's folder, "module": its name, "masks": a folder of
         <h>_<w>_<text>_<valid>.npy (uint8 [tokens, tokens]: compiler/reference.ts's denseMask),
         "args": the example's command line, "wrong_mask": true: the CPU kernel attends to every key
         instead of the pattern's (to show the comparison can fail)}
Run by test/examples.finetune.test.ts.

The package's ops get float64 CPU kernels here that read the reference's masks (not masks.py's,
which the example's own reference uses): the forward, and the backward from the forward's out and lse
as the kernels compute it. The package's test seam _op.DEVICE_TYPES takes "cpu", so the example's gratc
run goes through the real plug, op, autograd registration and text_valid handling.
"""
import glob
import importlib
import json
import math
import os
import sys

import numpy as np
import torch

CFG = json.load(open(sys.argv[1]))


def _no_build(*a, **k):
    raise AssertionError("a kernel build was attempted (no nvcc here; the CPU kernel should have run)")


import torch.utils.cpp_extension as _cpp  # noqa: E402

_cpp.load = _cpp.load_inline = _no_build
sys.path.insert(0, CFG["package"])
g = importlib.import_module(CFG["module"])
g._build.load_library = g._build.launch = g._build.launch_backward = _no_build

MASKS = {}
for f in glob.glob(os.path.join(CFG["masks"], "*.npy")):
    h, w, t, valid = (int(x) for x in os.path.basename(f)[:-4].split("_"))
    MASKS[(h, w, t), valid] = torch.from_numpy(np.load(f).astype(bool))
CALLS = {"forward": 0, "backward": 0}


def masks_for(sizes, text_valid, text_valid_all, batch):
    valid = text_valid.tolist() if text_valid is not None else [text_valid_all] * batch
    if CFG.get("wrong_mask"):  # every sample attends to every key
        n = MASKS[tuple(sizes), 0].shape[0]
        return torch.ones(batch, 1, n, n, dtype=torch.bool)
    return torch.stack([MASKS[tuple(sizes), min(max(n, 0), sizes[-1])] for n in valid])[:, None]


def masked(q, k, v, m, scale):
    """float64 (out, lse) of [B, H, N, D] under m [B, 1, N, N]; rows that see nothing: 0 and -inf."""
    s = (q @ k.transpose(-1, -2)) * scale
    has = m.any(-1, keepdim=True)
    s = s.masked_fill(~m, -math.inf).masked_fill(~has, 0.0)
    lse = torch.logsumexp(s, -1)
    o = (torch.exp(s - lse[..., None]) * has) @ v
    return o, lse.masked_fill(~has[..., 0], -math.inf)


def cpu_attention(q, k, v, text_valid, text_valid_all, sizes, scale, bnhd, with_lse, arch):
    assert not bnhd, "the plug calls with SDPA's layout"
    CALLS["forward"] += 1
    o, lse = masked(q.double(), k.double(), v.double(), masks_for(sizes, text_valid, text_valid_all, q.shape[0]), scale)
    return o.to(q.dtype).contiguous(), (lse.float() if with_lse else q.new_empty((0,), dtype=torch.float32))


def cpu_backward(dout, q, k, v, out, lse, dlse, text_valid, text_valid_all, sizes, scale, bnhd):
    """The gradients in float64 from the mask and the forward's out and lse (autograd does not run
    inside an op's kernel): P = exp(scale q·k − lse), delta = rowsum(dO ∘ out) − dlse,
    dS = P ∘ (dO·vᵀ − delta); dq = scale dS k, dk = scale dSᵀ q, dv = Pᵀ dO."""
    CALLS["backward"] += 1
    m = masks_for(sizes, text_valid, text_valid_all, q.shape[0])
    qd, kd, vd, od, dod = (x.double() for x in (q, k, v, out, dout))
    p = torch.exp((qd @ kd.transpose(-1, -2)) * scale - lse.double()[..., None]).masked_fill(~m, 0.0).nan_to_num(0.0)
    delta = (dod * od).sum(-1) - (dlse.double() if dlse is not None else 0.0)
    ds = p * (dod @ vd.transpose(-1, -2) - delta[..., None])
    grads = (ds @ kd * scale, ds.transpose(-1, -2) @ qd * scale, p.transpose(-1, -2) @ dod)
    return tuple(x.to(q.dtype).contiguous() for x in grads)


torch.library.register_kernel(g._op.attention, "cpu", cpu_attention)
torch.library.register_kernel(g._op.backward, "cpu", cpu_backward)
g._op.DEVICE_TYPES = ("cuda", "cpu")  # the package's test seam

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "finetune"))
import finetune_dit  # noqa: E402

rc = finetune_dit.main(CFG["args"])
print(f"cpu kernel calls: {json.dumps(CALLS)}")
sys.exit(rc)
