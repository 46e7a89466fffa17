"""The facts of pattern 'flux_grat_x' that its kernels were generated for (gratc; do not edit)."""
import json

import torch

KERNEL = "grat_flux_grat_x_4a76f63cb804"  # the library's name: grat_<pattern>_<hash of the spec>, also the torch.library namespace
SPEC_HASH = "4a76f63cb804996c"
PATTERN = "flux_grat_x"
HEAD_DIM = 128
# grid sizes outermost first; None where the size is given at run time (grid=... of attention/plug)
GRID = (48, 40,)
GROUP = (16, 16,)
ORDER = "raster"
TEXT_COUNT = 512  # None: a run-time size (text_count=..., or what the token count leaves)
TEXT_PLACE = "before"
TOKENS = 2432  # None when any size is given at run time: tokens_for(grid, text_count)
IMAGE_OFFSET = 512
IMAGE_TOKENS = 1920
TEXT_OFFSET = 0
SCALE = 0.088388347648318433
DTYPE = torch.bfloat16  # what the pattern declares; attention() takes bfloat16 and float16
SM90A = True  # False: this pattern has no sm_90a kernel, Hopper runs the sm_80 one
SM90A_FALLBACK = ""
SM90A_INT8 = False  # attention(precision="int8") has its kernel here (issue 20; emitted on request)
IMAGE_SEES_TEXT = True
TEXT_QUERIES = {"grid": True, "text": True}  # what text queries see: {"grid": bool, "text": bool}, or None without text
# which sizes are given at launch and the largest the kernels take (proved int32-safe by the compiler):
# {"dims": [bool per dim], "text": bool, "max": {"dims": [...], "text": n, "tokens": n}}
RUNTIME_LIMITS = json.loads("""{"dims":[false,false],"text":false,"max":{"dims":[48,40],"text":512,"tokens":2432}}""")
# the spatial split for 1..8 GPUs (compiler/shard.ts): per rank its sequence shard, query groups,
# band and the K/V token ranges it receives; {"error": ...} where the grid has too few rows; empty
# when a size is given at run time (the multi-GPU paths need compile-time sizes for now)
SPATIAL_PLANS = json.loads("""{"1":{"world":1,"ranks":[{"rank":0,"tokens":[0,2432],"rows":[0,3],"groups":[0,9],"grid":[0,1920],"inner":[0,9],"text":true,"recv":[]}],"textOwner":0},"2":{"world":2,"ranks":[{"rank":0,"tokens":[0,1792],"rows":[0,2],"groups":[0,6],"grid":[0,1280],"inner":[6,6],"text":true,"recv":[{"from":1,"start":1792,"end":2432}]},{"rank":1,"tokens":[1792,2432],"rows":[2,3],"groups":[6,9],"grid":[1280,1920],"inner":[9,9],"text":false,"recv":[{"from":0,"start":0,"end":512},{"from":0,"start":512,"end":1792}]}],"textOwner":0},"3":{"world":3,"ranks":[{"rank":0,"tokens":[0,1152],"rows":[0,1],"groups":[0,3],"grid":[0,640],"inner":[3,3],"text":true,"recv":[{"from":1,"start":1152,"end":1792},{"from":2,"start":1792,"end":2432}]},{"rank":1,"tokens":[1152,1792],"rows":[1,2],"groups":[3,6],"grid":[640,1280],"inner":[6,6],"text":false,"recv":[{"from":0,"start":0,"end":512},{"from":0,"start":512,"end":1152},{"from":2,"start":1792,"end":2432}]},{"rank":2,"tokens":[1792,2432],"rows":[2,3],"groups":[6,9],"grid":[1280,1920],"inner":[9,9],"text":false,"recv":[{"from":0,"start":0,"end":512},{"from":0,"start":512,"end":1152},{"from":1,"start":1152,"end":1792}]}],"textOwner":0},"4":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 4 GPUs needs at least 4"},"5":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 5 GPUs needs at least 5"},"6":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 6 GPUs needs at least 6"},"7":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 7 GPUs needs at least 7"},"8":{"error":"the grid has 3 group row(s) along its first dim; a spatial split over 8 GPUs needs at least 8"}}""")
# per image term, its window along the first grid dim and its border: what _shard.py needs to plan
# the spatial split at sizes given at launch
SHARD_TERMS = json.loads("""[{"range":{"kind":"offset","lo":0,"hi":0},"border":"clip"},{"range":{"kind":"all"},"border":"clip"}]""")

_DTYPES = {torch.bfloat16: 0, torch.float16: 1 }  # the C API's dtype codes
