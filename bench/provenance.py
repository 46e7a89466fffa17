"""What every result file records about where it was measured: the card, the UTC date and the
software versions. One definition for the bench scripts and the examples that write results."""
import datetime
import subprocess
import sys

import torch


def versions():
    """torch, CUDA, cuDNN, Triton, nvcc and Python versions (those present)."""
    v = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0]}
    if torch.backends.cudnn.is_available():
        v["cudnn"] = torch.backends.cudnn.version()
    try:
        import triton
        v["triton"] = triton.__version__
    except ImportError:
        pass
    try:
        v["nvcc"] = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    except (OSError, IndexError):
        pass
    return v


def header(card=None):
    """The fields a result file starts with; `card` overrides the CUDA device's name (smoke runs)."""
    return {"card": card or torch.cuda.get_device_name(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions()}
