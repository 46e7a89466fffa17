"""Runs the Python snippets of the README's "Use it in your pipeline" section (each a ```python
block after a `<!-- pipeline:NAME -->` line), in order, in one namespace, after a prelude that
gives them what a pipeline has: `transformer` (a Flux-shaped model: transformer_blocks and
single_transformer_blocks calling F.scaled_dot_product_attention), `latents` and `timesteps`.
    python3 readme_snippets.py DOC.md        (grat_flux_grat_b importable, grid left open)
With the stub torch (CI) the model only makes the SDPA calls; with torch on a GPU it is a small
real model (bench/cuda/pipeline_check.py runs it so). Prints 'ran NAME' per snippet, then the
plug's stats as JSON."""
import json
import re
import sys

import torch
import torch.nn.functional as F

STUB = torch.__version__.endswith("stub")
BLOCKS = (2, 2)  # double, single blocks
H, D = 2, 128
GRID = (64, 48)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        if not STUB:
            self.qkv = torch.nn.Linear(H * D, 3 * H * D, bias=False)

    def forward(self, x):
        if STUB:
            q = torch.Tensor((x.shape[0], H, x.shape[1], D), torch.bfloat16, x.device)
            F.scaled_dot_product_attention(q, q, q)
            return x
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, H, D).permute(2, 0, 3, 1, 4)
        return x + 0.1 * F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, H * D)


class Transformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer_blocks = torch.nn.ModuleList([Block() for _ in range(BLOCKS[0])])
        self.single_transformer_blocks = torch.nn.ModuleList([Block() for _ in range(BLOCKS[1])])

    def forward(self, latents, t):
        x = latents
        for b in list(self.transformer_blocks) + list(self.single_transformer_blocks):
            x = b(x)
        return x


def prelude(tokens):
    transformer = Transformer()
    if STUB:
        latents = torch.Tensor((2, tokens, H * D), torch.bfloat16, "cuda:0")
    else:
        transformer = transformer.to("cuda", torch.bfloat16).eval()
        latents = torch.randn(2, tokens, H * D, device="cuda", dtype=torch.bfloat16)
    return dict(transformer=transformer, latents=latents, timesteps=[1.0, 0.75, 0.5])


def snippets(doc):
    text = open(doc, encoding="utf-8").read()
    return re.findall(r"<!-- pipeline:([a-z-]+) -->\n```(\w+)\n(.*?)```", text, re.S)


def main():
    import grat_flux_grat_b as grat

    ns = prelude(grat.tokens_for(GRID))
    ran = []
    with torch.no_grad():
        for name, lang, code in snippets(sys.argv[1]):
            if lang != "python":
                continue
            exec(compile(code, f"<README pipeline:{name}>", "exec"), ns)
            ran.append(name)
            print("ran", name, flush=True)
    if not ran:
        raise SystemExit(f"no pipeline snippets in {sys.argv[1]}")
    print(json.dumps({"ran": ran, "stats": ns["p"].stats, "blocks": ns["p"].blocks}))


if __name__ == "__main__":
    main()
