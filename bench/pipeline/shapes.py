"""The shapes of the end-to-end bench (bench/pipeline/e2e.py), defined once for the bench and for
bench/pipeline/emit.sh, which emits the gratc modules they need. Pure Python (no torch).

    python3 bench/pipeline/shapes.py [SHAPES] [PATTERNS]
prints one line per (pattern file, grid) the selection needs: `examples/flux_grat_b.grat 256x256`.
SHAPES: comma-separated names below, `all`, or custom `flux:HxW` / `hunyuan:TxHxW` (latent token grids).
PATTERNS: comma-separated `b`, `x` (GRAT-B, GRAT-X).
"""
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    name: str
    model: str  # "flux" | "hunyuan"
    grid: tuple  # token grid after patchify, outermost first: (h, w) or (t, h, w)
    what: str


# Flux: image pixels / 16 (8x VAE, 2x2 patches); width x height as people name them, grid is (h, w).
# HunyuanVideo 720p, 129 frames: latent 33 x 90 x 160, patch 1x2x2 -> 33 x 45 x 80.
SHAPES = {s.name: s for s in (
    Shape("flux_1024", "flux", (64, 64), "1024x1024 image"),
    Shape("flux_2048", "flux", (128, 128), "2048x2048 image"),
    Shape("flux_4096", "flux", (256, 256), "4096x4096 image"),
    Shape("flux_1024x768", "flux", (48, 64), "1024x768 image (w x h)"),
    Shape("flux_1360x768", "flux", (48, 85), "1360x768 image (w x h), ragged under 16x16 groups"),
    Shape("flux_768x1360", "flux", (85, 48), "768x1360 image (w x h), ragged rows"),
    Shape("hunyuan_720p", "hunyuan", (33, 45, 80), "HunyuanVideo 720p, 129 frames (ragged under 4x8x8 groups)"),
)}

PATTERN_FILES = {("flux", "b"): "flux_grat_b", ("flux", "x"): "flux_grat_x",
                 ("hunyuan", "b"): "hunyuan_grat_b", ("hunyuan", "x"): "hunyuan_grat_x"}


def parse_shapes(text):
    """'flux_4096,flux:48x85' -> [Shape]; ValueError naming the known shapes otherwise."""
    if text.strip() == "all":
        return list(SHAPES.values())
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        if item in SHAPES:
            out.append(SHAPES[item])
            continue
        model, _, sizes = item.partition(":")
        dims = {"flux": 2, "hunyuan": 3}.get(model)
        try:
            grid = tuple(int(s) for s in sizes.split("x"))
        except ValueError:
            grid = ()
        if dims is None or len(grid) != dims or min(grid) < 1:
            raise ValueError(f"unknown shape {item!r}: one of {', '.join(SHAPES)}, all, flux:HxW or hunyuan:TxHxW")
        out.append(Shape(f"{model}_{sizes}", model, grid, "custom"))
    return out


def parse_patterns(text):
    out = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in out if p not in ("b", "x")]
    if bad or not out:
        raise ValueError(f"PATTERNS must list b and/or x, got {text!r}")
    return out


def pattern_name(shape, letter):
    return PATTERN_FILES[(shape.model, letter)]


if __name__ == "__main__":
    shapes = parse_shapes(sys.argv[1] if len(sys.argv) > 1 else "all")
    letters = parse_patterns(sys.argv[2] if len(sys.argv) > 2 else "b,x")
    for s in shapes:
        for p in letters:
            print(f"examples/{pattern_name(s, p)}.grat {'x'.join(map(str, s.grid))}")
