"""The GRAT masks of the end-to-end bench, as FlexAttention mask_mods (bench/pipeline/e2e.py).

One function, `mask_mod(pattern, grid, text_valid)`, serves three callers: FlexAttention's
block mask (called under vmap with 0-d int tensors), the bench's dense boolean reference (torch
index tensors, broadcast in row chunks) and the CI test (numpy arrays, test/pipeline.masks.test.ts),
which compares it with compiler/reference.ts's denseMask of the example files at ragged sizes.
So it uses only operators both numpy and torch give (+ - // % comparisons & | abs), no `if` on
values and no library calls. Pure Python: importable without torch.

The table below restates five examples/ .grat files (finetune_dit_b in examples/finetune/); the test fails if one of them changes
without it. Semantics as in compiler/reference.ts: raster token order, groups cut at the grid's
far edge, windows clipped at the borders; text keys past `text_valid` are seen by nobody.
"""
from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class Pattern:
    name: str
    group: tuple  # group size per grid dim, outermost first
    text: int  # text tokens in the sequence
    text_place: str  # "before" | "after" the grid
    region: str  # "neighbors" | "crisscross_planes" | "crisscross_lines"
    radius: tuple = ()  # neighbors: per dim
    image_sees_text: bool = True
    text_sees_grid: bool = True
    text_sees_text: bool = True


PATTERNS = {p.name: p for p in (
    Pattern("flux_grat_b", (16, 16), 512, "before", "neighbors", (1, 1)),
    Pattern("flux_grat_x", (16, 16), 512, "before", "crisscross_planes"),
    Pattern("hunyuan_grat_b", (4, 8, 8), 256, "after", "neighbors", (1, 1, 1)),
    Pattern("hunyuan_grat_x", (4, 8, 8), 256, "after", "crisscross_planes"),
    Pattern("finetune_dit_b", (8, 8), 32, "before", "neighbors", (1, 1)),
)}


def tokens(pattern, grid):
    """Sequence length: grid tokens plus text tokens."""
    return prod(grid) + pattern.text


def _check(pattern, grid):
    if len(grid) != len(pattern.group) or any(int(s) < 1 for s in grid):
        raise ValueError(f"{pattern.name}: grid {tuple(grid)} must have {len(pattern.group)} positive sizes")


def _fields(pattern, grid, i):
    """Per token index i (any int array): is it an image token, a text token, a valid text token
    (given as the function's `valid` later), and its group coordinate along each dim."""
    M = prod(grid)
    img_off = pattern.text if pattern.text_place == "before" else 0
    txt_off = 0 if pattern.text_place == "before" else M
    local = i - img_off
    is_img = (local >= 0) & (local < M)
    t = i - txt_off
    # token coordinate along dim a = (local // stride_a) % size_a; then its group (garbage for text tokens, gated by is_img)
    coords, stride = [], M
    for size, g in zip(grid, pattern.group):
        stride //= size
        coords.append(((local // stride) % size) // g)
    return is_img, t, coords


def _region(pattern, qc, kc):
    """Whether key group kc is in query group qc's key region (image terms only)."""
    D = len(qc)
    if pattern.region == "neighbors":
        out = abs(qc[0] - kc[0]) <= pattern.radius[0]
        for a in range(1, D):
            out = out & (abs(qc[a] - kc[a]) <= pattern.radius[a])
        return out
    if pattern.region == "crisscross_planes":  # any coordinate shared (2-D: the row or the column of groups)
        out = qc[0] == kc[0]
        for a in range(1, D):
            out = out | (qc[a] == kc[a])
        return out
    if pattern.region == "crisscross_lines":  # all but one coordinate shared
        out = None
        for free in range(D):
            line = None
            for a in range(D):
                if a != free:
                    same = qc[a] == kc[a]
                    line = same if line is None else line & same
            if line is None:  # 1-D: the whole axis
                return (qc[0] == qc[0]) | (kc[0] == kc[0])
            out = line if out is None else out | line
        return out
    raise ValueError(f"{pattern.name}: unknown region {pattern.region!r}")


def mask_mod(pattern, grid, text_valid=None, perm=None):
    """FlexAttention's mask_mod(b, h, q_idx, kv_idx) -> bool for `pattern` on `grid` (raster order).
    text_valid: real text tokens (None = all), clamped to [0, text]; or one count per sample (a
    1-D integer array or tensor, indexed by b: per-sample prompt lengths in a training batch).
    perm: optional index array mapping another token order's sequence index to the raster
    sequence index (see sequence_permutation): the mask of the same pattern with tokens stored in
    that order."""
    _check(pattern, grid)
    grid = tuple(int(s) for s in grid)
    per_sample = text_valid is not None and hasattr(text_valid, "shape") and len(text_valid.shape) == 1
    if per_sample:
        valid = text_valid
    else:
        valid = pattern.text if text_valid is None else max(0, min(int(text_valid), pattern.text))

    def mod(b, h, q_idx, kv_idx):
        if perm is not None:
            q_idx, kv_idx = perm[q_idx], perm[kv_idx]
        qi, qt, qc = _fields(pattern, grid, q_idx)
        ki, kt, kc = _fields(pattern, grid, kv_idx)
        q_text = (qt >= 0) & (qt < pattern.text)
        # (per sample: kt < text too, since a count past the text would otherwise reach the grid)
        k_valid = (kt >= 0) & (kt < valid[b]) & (kt < pattern.text) if per_sample else (kt >= 0) & (kt < valid)
        img_keys = ki & _region(pattern, qc, kc)
        image_row = img_keys | k_valid if pattern.image_sees_text else img_keys
        text_keys = None
        if pattern.text_sees_grid:
            text_keys = ki
        if pattern.text_sees_text:
            text_keys = k_valid if text_keys is None else text_keys | k_valid
        out = qi & image_row
        return out if text_keys is None else out | (q_text & text_keys)

    return mod


def sequence_permutation(pattern, grid, np):
    """The grouped token order (each group's tokens contiguous, groups in raster order of groups,
    tokens raster within a group; text where the pattern puts it) as a numpy int64 array:
    entry s is the raster sequence index of the token at grouped sequence index s. Used to run
    FlexAttention on grouped tokens, as the official GRAT code does (`np` is numpy)."""
    _check(pattern, grid)
    grid = tuple(int(s) for s in grid)
    D, M = len(grid), prod(grid)
    raster = np.arange(M, dtype=np.int64).reshape(grid)
    # sort tokens by (group coordinates, coordinates within the group), outermost first
    keys = []
    idx = np.indices(grid).reshape(D, -1)
    for a in range(D):
        keys.append(idx[a] // pattern.group[a])
    for a in range(D):
        keys.append(idx[a] % pattern.group[a])
    order = np.lexsort(tuple(reversed(keys)))
    img = raster.reshape(-1)[order]
    text = np.arange(pattern.text, dtype=np.int64)
    if pattern.text_place == "before":
        return np.concatenate([text, img + pattern.text])
    return np.concatenate([img, text + M])
