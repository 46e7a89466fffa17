/**
 * Patterns with sizes taken at launch that several tests compile (the printed CUDA and WGSL cursors,
 * the nvcc builds): one definition each.
 */

/** 3-D, raster, the frame count fixed (HunyuanVideo-like), the text count at launch, after the grid. */
export const VIDEO_X = `pattern vx
grid  t=6 h=? w=?
group t=4 h=8 w=8
order raster
text  ? after
image attends crisscross + text
text  attends all
head_dim 128
`;

/** Grouped order, shifted windows, a predicate on the group count n (a launch value here). */
export const SHIFT_N = `pattern sn
grid  h=? w=?
group h=4 w=4
order grouped
border shift
text  ? before
image attends neighbors(h=1, w=2) + where(kw >= nw - 1 && dh >= -1 && dh <= 0) + text
text  attends grid
head_dim 64
`;
