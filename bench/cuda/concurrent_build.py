"""Two processes build the same generated kernel at once into an empty build cache: both must
succeed, agree bit for bit, and leave one build folder per arch (torch's lock serializes them).
    PYTHONUNBUFFERED=1 OUT=/tmp/out python3 bench/cuda/concurrent_build.py .gen/cuda/check/flux_b_20x36_grouped
"""
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, os, torch
d = sys.argv[1]
sys.path.insert(0, d)  # the compile folder: its package grat_<pattern>/ imports by name
m = __import__([f for f in os.listdir(d) if f.startswith('grat_') and os.path.isdir(os.path.join(d, f))][0])
g = torch.Generator(device='cuda').manual_seed(0)
q, k, v = (torch.randn(1, 2, m.TOKENS, m.HEAD_DIM, device='cuda', dtype=torch.bfloat16, generator=g) for _ in range(3))
out = m.attention(q, k, v)
torch.save(out.cpu(), sys.argv[2])
print('built and ran', m.KERNEL)
"""

folder = sys.argv[1]
cache = tempfile.mkdtemp(prefix="gratc_ext_")
env = dict(os.environ, TORCH_EXTENSIONS_DIR=cache, MAX_JOBS="4")
outs = [os.path.join(cache, f"out{i}.pt") for i in range(2)]
procs = [subprocess.Popen([sys.executable, "-c", CHILD, folder, o], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for o in outs]
logs = [p.communicate()[0] for p in procs]
codes = [p.returncode for p in procs]
import torch  # noqa: E402  (after the children started)
same = all(c == 0 for c in codes) and torch.equal(torch.load(outs[0]), torch.load(outs[1]))
builds = sorted(os.path.relpath(os.path.join(r, d), cache) for r, ds, _ in os.walk(cache) for d in ds if r != cache)
result = {"exit_codes": codes, "identical_outputs": same, "build_folders": builds, "logs": [l[-400:] for l in logs]}
print(json.dumps(result, indent=1))
json.dump(result, open(os.path.join(os.environ.get("OUT", "/tmp"), "cuda_concurrent_build.json"), "w"), indent=1)
sys.exit(0 if same else 1)
