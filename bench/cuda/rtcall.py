"""A generated kernel's C entry point (the issue-18 ABI: K_forward(dtype, q, k, v, o, lse, strides,
batch, heads, sizes, text_valid, text_valid_all, scale, stream)) called through ctypes with explicit
launch sizes and, optionally, a per-sample text_valid tensor: how bench/cuda/run.py checks and times
kernels compiled with run-time sizes, independent of the generated package's Python API. `lib` is
what the package's load_library(arch=...) returns (its ctypes-bound entry points)."""
import ctypes

import torch

DTYPES = {torch.bfloat16: 0, torch.float16: 1}  # the C API's dtype codes
INVALID_VALUE = 1  # cudaErrorInvalidValue


def call(lib, q, k, v, out, sizes, text_valid=None, text_valid_all=0, scale=1.0, lse=None, layout="bhnd"):
    """The return code of one launch on the current stream (0: success). q, k, v, out: [B, H, N, D]
    ("bhnd") or [B, N, H, D] ("bnhd"); sizes: the grid sizes outermost first, then the text count;
    text_valid: None or a CUDA int32 tensor [B]; lse: None or a float32 [B, H, N] tensor."""
    strides = []
    for t in (q, k, v, out):
        strides += [t.stride(0), t.stride(1), t.stride(2)] if layout == "bhnd" else [t.stride(0), t.stride(2), t.stride(1)]
    batch, heads = (q.shape[0], q.shape[1]) if layout == "bhnd" else (q.shape[0], q.shape[2])
    if text_valid is not None:
        assert text_valid.dtype == torch.int32 and text_valid.is_cuda and text_valid.numel() == batch
    return lib.forward(DTYPES[q.dtype], q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(),
                       None if lse is None else lse.data_ptr(), (ctypes.c_longlong * 12)(*strides), batch, heads,
                       (ctypes.c_int * len(sizes))(*sizes), None if text_valid is None else text_valid.data_ptr(),
                       int(text_valid_all), float(scale), torch.cuda.current_stream().cuda_stream)


def forward(lib, *args, **kw):
    """call(), raising on a nonzero return code."""
    rc = call(lib, *args, **kw)
    if rc != 0:
        msg = lib.error_string(rc)
        raise RuntimeError(f"kernel returned {rc}: {msg.decode() if isinstance(msg, bytes) else msg}")
