"""The dense masks the bench cases write beside their kernels (bench/cuda/*_cases.ts): N×N visible-pair
bits, row-major, packed 8 to a byte (numpy's packbits order), optionally gzipped; read as a bool tensor."""
import gzip

import numpy as np
import torch


def load_mask(path, n, device):
    """The n×n bool mask in `path` (a `.gz` path is gunzipped), on `device`."""
    if path.endswith(".gz"):
        with gzip.open(path) as fh:
            bits = np.frombuffer(fh.read(), dtype=np.uint8)
    else:
        bits = np.fromfile(path, dtype=np.uint8)
    return torch.from_numpy(np.unpackbits(bits)[: n * n].reshape(n, n).astype(bool)).to(device)
