"""One case's kernel launched a few times, for tools that wrap a process (compute-sanitizer, ncu).

    python3 bench/cuda/probe.py CASE_NAME [ARCH] [REPS]
CASE_NAME is a folder under .gen/cuda/check or .gen/cuda/bench (built earlier by run.py build);
ARCH is sm80 or sm90a (default: this device's pick). Check cases run every valid text length in
bf16 and fp16 and compare with the dense-mask reference; bench cases run bf16 at 24 heads.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_ext")
name = sys.argv[1]
arch = sys.argv[2] if len(sys.argv) > 2 else None
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1
case = next(c for c in json.load(open(".gen/cuda/manifest.json")) if c["name"] == name)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gratmod  # noqa: E402  (the generated package, imported by path)
import maskfile  # noqa: E402  (bench/cuda/maskfile.py: the cases' mask files)

m = gratmod.load(case["dir"], case["module"], name)
N, D = case["tokens"], case["headDim"]
if case["kind"] == "check":
    worst = 0.0
    for valid in case["valids"]:
        mask = maskfile.load_mask(os.path.join(case.get("maskDir", case["dir"]), f"mask_v{valid}.bin"), N, "cuda")
        for dtype in (torch.bfloat16, torch.float16):
            q, k, v = (torch.randn(2, 3, N, D, device="cuda", dtype=dtype) for _ in range(3))
            o = m.attention(q, k, v, text_valid=valid, arch=arch)
            ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=case["scale"])
            ref = ref.masked_fill((~mask.any(-1))[None, None, :, None], 0.0)
            err = ((o.float() - ref).norm() / ref.norm()).item()
            worst = max(worst, err)
    print(f"probe {name} {arch}: worst rel err {worst:.2e}")
else:
    q, k, v = (torch.randn(1, 24, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    for _ in range(reps):
        o = m.attention(q, k, v, arch=arch)
    torch.cuda.synchronize()
    print(f"probe {name} {arch}: ran {reps}")
