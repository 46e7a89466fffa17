/**
 * Pattern statistics (what `gratc inspect` prints): sizes, keys per query group, density and
 * FLOPs. Computed per query group (group size × visible key tokens), never per token pair, so
 * a Flux 8192² pattern (262k tokens, 1024 groups) takes milliseconds. Counts follow
 * `reference.ts` exactly (text query rows include padded ones); tests check them against
 * brute-force counts on the dense mask.
 */
import type { PatternIR } from './ir.js';
import { groupCount, imageTokens, totalTokens } from './ir.js';
import type { BoxTerm } from './ir.js';
import { closedFormCountable, countKeys, groupIndex, groupSize, interiorAlong, KeyGroupEnumerator } from './keys.js';
import { groupSizes, resolveValid } from './reference.js';

export interface MinMeanMax {
  readonly min: number;
  readonly mean: number; // unweighted mean over image query groups
  readonly max: number;
}

export interface PatternStats {
  readonly tokens: number;
  readonly imageTokens: number;
  readonly textTokens: number; // the text count (padding included)
  readonly valid: number; // valid text length the counts below use
  readonly queryGroups: number;
  readonly groupShape: readonly number[]; // tokens per group along each dim (edge groups may be smaller)
  readonly gridGroups: readonly number[]; // groups along each dim
  /** Visible key tokens per image query group, valid text keys included. */
  readonly keysPerQueryGroup: MinMeanMax;
  /** Visible key groups per image query group (text not counted). */
  readonly keyGroupsPerQueryGroup: MinMeanMax;
  /** Visible (query, key) token pairs over the whole sequence, text rows included. */
  readonly visiblePairs: number;
  readonly density: number; // visiblePairs / tokens²
  readonly flopsPerHead: number; // 4 · headDim · visiblePairs (QKᵀ and PV, 2 FLOPs per multiply-add)
  readonly fullFlopsPerHead: number; // 4 · headDim · tokens²
  readonly speedupBound: number; // 1 / density (Infinity when nothing is visible)
}

/** Per image query group: its tokens, its key tokens (text excluded) and key groups; `weight` groups alike. */
interface GroupCount { readonly weight: number; readonly size: number; readonly tokens: number; readonly groups: number }

/** Every query group, counted one by one (countKeys: closed form for few boxes, else enumeration). */
function* eachGroup(ir: PatternIR): Generator<GroupCount> {
  const sizes = groupSizes(ir), keys = new KeyGroupEnumerator(ir);
  for (let g = 0, G = groupCount(ir); g < G; g++) yield { weight: 1, size: sizes[g], ...countKeys(ir, g, keys, sizes) };
}

/**
 * Boxes only: query coordinates whose terms' intervals look alike (the interior of each axis, see
 * interiorAlong) have the same counts, so each class of coordinates per axis is counted once and
 * weighted by its size: the work grows with the edges, not with the grid.
 */
function* boxClasses(ir: PatternIR): Generator<GroupCount> {
  const terms = ir.image.terms as readonly BoxTerm[], D = ir.dims.length;
  // per axis: classes of query coordinates, each a representative q and how many there are
  const classes = ir.dims.map((d, i) => {
    const [lo, hi] = interiorAlong(terms.map((t) => t.axes[i]), d.groups);
    const out: { q: number; count: number }[] = [];
    for (let q = 0; q < d.groups; q++) {
      if (q === lo && lo <= hi) { out.push({ q, count: hi - lo + 1 }); q = hi; } else out.push({ q, count: 1 });
    }
    return out;
  });
  const pick = new Array<number>(D).fill(0), c = new Array<number>(D).fill(0);
  for (;;) {
    let weight = 1;
    for (let i = 0; i < D; i++) { const k = classes[i][pick[i]]; c[i] = k.q; weight *= k.count; }
    yield { weight, size: groupSize(ir, c), ...countKeys(ir, groupIndex(ir, c), null) };
    let i = D - 1;
    while (i >= 0 && pick[i] === classes[i].length - 1) { pick[i] = 0; i--; }
    if (i < 0) return;
    pick[i]++;
  }
}

/** Integers up to 2^53 are exact in a double; visible pairs at Flux 8192² are ~7e10. */
export function patternStats(ir: PatternIR, valid?: number): PatternStats {
  const v = resolveValid(ir, valid);
  const N = totalTokens(ir), M = imageTokens(ir), G = groupCount(ir), D = ir.headDim;
  const textKeys = ir.image.text ? v : 0;
  let pairs = 0;
  let kMin = Infinity, kMax = -Infinity, kSum = 0;
  let gMin = Infinity, gMax = -Infinity, gSum = 0;
  for (const c of closedFormCountable(ir) ? boxClasses(ir) : eachGroup(ir)) {
    const n = textKeys + c.tokens;
    pairs += c.weight * c.size * n;
    kSum += c.weight * n; if (n < kMin) kMin = n; if (n > kMax) kMax = n;
    gSum += c.weight * c.groups; if (c.groups < gMin) gMin = c.groups; if (c.groups > gMax) gMax = c.groups;
  }
  if (ir.text && ir.textQueries) {
    pairs += ir.text.count * ((ir.textQueries.grid ? M : 0) + (ir.textQueries.text ? v : 0));
  }
  const density = pairs / (N * N);
  return {
    tokens: N,
    imageTokens: M,
    textTokens: ir.text?.count ?? 0,
    valid: v,
    queryGroups: G,
    groupShape: ir.dims.map((d) => d.group),
    gridGroups: ir.dims.map((d) => d.groups),
    keysPerQueryGroup: { min: kMin, mean: kSum / G, max: kMax },
    keyGroupsPerQueryGroup: { min: gMin, mean: gSum / G, max: gMax },
    visiblePairs: pairs,
    density,
    flopsPerHead: 4 * D * pairs,
    fullFlopsPerHead: 4 * D * N * N,
    speedupBound: pairs === 0 ? Infinity : (N * N) / pairs,
  };
}
