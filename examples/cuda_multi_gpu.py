"""The same plug on several GPUs: each rank runs the model on its share of the sequence, and the
model's attention calls go to gratc's multi-GPU attention (torch.distributed, NCCL).

    gratc compile examples/cuda_dit_b.grat --target cuda --out build/cuda_dit_b
    torchrun --nproc-per-node 2 examples/cuda_multi_gpu.py build/cuda_dit_b [auto|spatial|ulysses]

Everything but attention works token by token, so a rank that holds tokens
grat.parallel_bounds(world)[rank] of the input gets exactly those rows of the output. With
parallel="auto" the plug picks the split that sends fewer bytes: for this GRAT-B pattern the
spatial one, where ranks exchange one group row of K/V with their neighbours instead of an
all-to-all of q, k, v and the output. The script checks every rank's rows against the same model
plugged on one GPU.
"""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "build/cuda_dit_b")
import grat_cuda_dit_b as grat  # noqa: E402  (the package gratc generated)
from cuda_plug_transformer import TinyDiT  # noqa: E402  (an ordinary model calling SDPA)

MODE = sys.argv[2] if len(sys.argv) > 2 else "auto"


@torch.no_grad()
def main():
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    torch.manual_seed(0)  # the same weights and input on every rank
    model = TinyDiT().cuda().to(torch.bfloat16).eval()
    x = torch.randn(2, grat.TOKENS, 256, device="cuda", dtype=torch.bfloat16)
    valid = 20

    single = grat.plug(model, text_valid=valid)  # one GPU: the reference
    ref = model(x)
    single.remove()

    lo, hi = grat.parallel_bounds(world, MODE)[rank]
    plug = grat.plug(model, text_valid=valid, parallel=MODE)  # <- the only change for several GPUs
    out = model(x[:, lo:hi].contiguous())
    err = ((out.float() - ref[:, lo:hi].float()).norm() / ref[:, lo:hi].float().norm()).item()
    errs = [None] * world
    dist.all_gather_object(errs, (lo, hi, plug.calls, err))
    if rank == 0:
        for r, (a, b, calls, e) in enumerate(errs):
            print(f"rank {r}: tokens {a}-{b - 1}, {calls} attention calls, relative difference to one GPU {e:.2e}")
    dist.destroy_process_group()
    if not all(e < 2e-2 for *_, e in errs):
        sys.exit("mismatch")


if __name__ == "__main__":
    main()
