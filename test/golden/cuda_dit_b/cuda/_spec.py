"""The facts of pattern 'cuda_dit_b' that its kernels were generated for (gratc; do not edit)."""
import json

import torch

KERNEL = "grat_cuda_dit_b_88ea03ce5423"  # the library's name: grat_<pattern>_<hash of the spec>, also the torch.library namespace
SPEC_HASH = "88ea03ce5423ade4"
PATTERN = "cuda_dit_b"
HEAD_DIM = 64
# grid sizes outermost first; None where the size is given at run time (grid=... of attention/plug)
GRID = (24, 40,)
GROUP = (8, 8,)
ORDER = "raster"
TEXT_COUNT = 32  # None: a run-time size (text_count=..., or what the token count leaves)
TEXT_PLACE = "before"
TOKENS = 992  # None when any size is given at run time: tokens_for(grid, text_count)
IMAGE_OFFSET = 32
IMAGE_TOKENS = 960
TEXT_OFFSET = 0
SCALE = 0.125
DTYPE = torch.bfloat16  # what the pattern declares; attention() takes bfloat16 and float16
SM90A = True  # False: this pattern has no sm_90a kernel, Hopper runs the sm_80 one
SM90A_FALLBACK = ""
SM90A_INT8 = False  # attention(precision="int8") has its kernel here (issue 20; emitted on request)
IMAGE_SEES_TEXT = True
TEXT_QUERIES = {"grid": True, "text": True}  # what text queries see: {"grid": bool, "text": bool}, or None without text
# which sizes are given at launch and the largest the kernels take (proved int32-safe by the compiler):
# {"dims": [bool per dim], "text": bool, "max": {"dims": [...], "text": n, "tokens": n}}
RUNTIME_LIMITS = json.loads("""{"dims":[false,false],"text":false,"max":{"dims":[24,40],"text":32,"tokens":992}}""")
# the spatial split for 1..8 GPUs (compiler/shard.ts): per rank its sequence shard, query groups,
# band and the K/V token ranges it receives; {"error": ...} where the grid has too few rows; empty
# when a size is given at run time (the multi-GPU paths need compile-time sizes for now)
SPATIAL_PLANS = json.loads("""{"1":{"world":1,"ranks":[{"rank":0,"tokens":[0,992],"rows":[0,3],"groups":[0,15],"grid":[0,960],"inner":[0,15],"text":true,"recv":[]}],"textOwner":0},"2":{"world":2,"ranks":[{"rank":0,"tokens":[0,672],"rows":[0,2],"groups":[0,10],"grid":[0,640],"inner":[0,5],"text":true,"recv":[{"from":1,"start":672,"end":992}]},{"rank":1,"tokens":[672,992],"rows":[2,3],"groups":[10,15],"grid":[640,960],"inner":[15,15],"text":false,"recv":[{"from":0,"start":0,"end":32},{"from":0,"start":352,"end":672}]}],"textOwner":0},"3":{"world":3,"ranks":[{"rank":0,"tokens":[0,352],"rows":[0,1],"groups":[0,5],"grid":[0,320],"inner":[5,5],"text":true,"recv":[{"from":1,"start":352,"end":672}]},{"rank":1,"tokens":[352,672],"rows":[1,2],"groups":[5,10],"grid":[320,640],"inner":[10,10],"text":false,"recv":[{"from":0,"start":0,"end":32},{"from":0,"start":32,"end":352},{"from":2,"start":672,"end":992}]},{"rank":2,"tokens":[672,992],"rows":[2,3],"groups":[10,15],"grid":[640,960],"inner":[15,15],"text":false,"recv":[{"from":0,"start":0,"end":32},{"from":1,"start":352,"end":672}]}],"textOwner":0},"4":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 4 GPUs needs at least 4"},"5":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 5 GPUs needs at least 5"},"6":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 6 GPUs needs at least 6"},"7":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 7 GPUs needs at least 7"},"8":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 8 GPUs needs at least 8"}}""")
# per image term, its window along the first grid dim and its border: what _shard.py needs to plan
# the spatial split at sizes given at launch
SHARD_TERMS = json.loads("""[{"range":{"kind":"offset","lo":-1,"hi":1},"border":"clip"}]""")

_DTYPES = {torch.bfloat16: 0, torch.float16: 1 }  # the C API's dtype codes
