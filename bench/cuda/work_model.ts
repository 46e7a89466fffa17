/**
 * A work model of the sm_90a kernel (issue 19): what its MMAs issue against the useful (query,
 * key) pairs, per query tile and per CTA under the persistent schedule. It reads the same plan
 * (planSm90: BQ = BK = 128, the raster TMA box) and walks the same key tiles (compiler/cursor.ts,
 * the definition the kernel's cursor is printed from), so nothing here restates the walk.
 *
 * What the kernel issues, from templates/kernel_sm90.cu.hbs:
 *   - a work tile is BQ query rows of one group (or of the text); both consumer warpgroups run
 *     their 64 rows whatever qrows is, so a tile costs BQ rows;
 *   - every key tile is one wgmma S = Q·Kᵀ of N = BK and one P·V over BK keys, whatever its n;
 *   - a key tile is a TMA box only when n == BK and it is contiguous, a plane run of whole tiles,
 *     or a full raster box (lw, lh) of a full-size group, or (variant edgeBoxes) any tile of a group
 *     of one of the plan's edge-box shapes (Sm90Plan.edgeBoxes); else the producer gathers it (cp.async);
 *   - (variant halfTiles, Sm90Plan.halfTiles) a tile of at most 64 rows runs one consumer warpgroup;
 *   - work items: every head's text tiles, then every head's image tiles (head-major, the groups in
 *     bands of blockRows group rows), taken in that order from one atomic counter by
 *     min(#SMs, items) CTAs; the missing tiles of edge groups cost nothing.
 * Time model: a work tile costs (key tiles + `overhead`) units (a unit: one BQ×BK key tile of both
 * products; the overhead: Q load, first-tile max, epilogue, pipeline refill), gathered key tiles
 * `gatherExtra` units more; the makespan is the greedy list schedule's. Efficiency = useful pairs /
 * (makespan · #SMs · BQ·BK): 1.0 would be every SM busy on useful pairs all the time.
 *
 * A half tile costs `halfCost` (default 0.5: an upper bound of the gain, a lone warpgroup's softmax
 * overlaps only its own P·V) of a full one.
 *
 * Usage: npm run build && node dist/bench/cuda/work_model.js [--json] [--sms 132] [--heads 24]
 *        [--overhead 1] [--gather-extra 0] [--pack-keys] [--pack-rows] [--half-cost 0.5] [--sm90 edgeBoxes=false,halfTiles=true]
 */
import type { PatternIR } from '../../compiler/ir.js';
import { fixedPlan, type BoundPlan } from '../../compiler/plan.js';
import { decodeGroup, keyTiles, type KeyTile } from '../../compiler/cursor.js';
import { groupExtents } from '../../compiler/plan.js';
import { DEFAULT_SM90_VARIANT, planKernel, type KernelSpec, type Sm90Variant } from '../../codegen/cuda/spec.js';
import { isEdgeBoxed, planSm90 } from '../../codegen/cuda/sm90.js';
import { MinHeap } from '../../compiler/heap.js';

/** One query tile (per head; every head's is the same). */
export interface TileWork {
  readonly text: boolean;
  readonly group: number; // query group (-1: text)
  readonly qrows: number;
  readonly keyTiles: number;
  readonly keyTokens: number; // keys the tile really has (sum of the key tiles' n)
  readonly gathered: number; // key tiles the producer gathers (not a TMA box)
  readonly edgeBoxed: number; // key tiles loaded as edge boxes (variant edgeBoxes: boxes of a ragged group)
  /** (variant halfTiles) the tile has at most 64 rows: consumer warpgroup 0 runs it alone. */
  readonly half: boolean;
}

export interface ModelOptions {
  readonly sms: number;
  readonly heads: number;
  readonly overhead: number;
  readonly gatherExtra: number;
  /** What-ifs (upper bounds of a fix, not what the kernel does): keys packed into full key tiles (ceil(keys / BK) a tile, none gathered); query rows packed (a tile costs qrows / BQ of its key tiles). */
  readonly packKeys?: boolean;
  readonly packRows?: boolean;
  /** A half tile's cost, as a fraction of a full tile's (default 0.5, the bound: a lone warpgroup's softmax overlaps only its own P·V). */
  readonly halfCost?: number;
}
export const DEFAULT_MODEL: ModelOptions = { sms: 132, heads: 24, overhead: 1, gatherExtra: 0 };

export interface WorkSummary {
  readonly queryTiles: number; // per head
  readonly groups: number;
  readonly keyTiles: number; // per head
  readonly usefulPairs: number; // per head: the dense mask's visible pairs (text rows included)
  readonly issuedPairs: number; // per head: keyTiles · BQ · BK
  readonly usefulFraction: number; // usefulPairs / issuedPairs
  readonly queryRowFraction: number; // real query rows / BQ-padded rows, weighted by key tiles
  readonly keyFraction: number; // real keys / BK-padded keys, weighted by query rows
  readonly gatheredFraction: number; // gathered key tiles / key tiles
  readonly edgeBoxedFraction: number; // key tiles loaded as edge boxes / key tiles
  readonly halfFraction: number; // key tiles of half tiles (one consumer warpgroup) / key tiles
  readonly keyTilesPerTile: { readonly min: number; readonly mean: number; readonly max: number };
  readonly makespan: number; // units, the slowest CTA
  readonly ideal: number; // units, total / #CTAs
  readonly tailFraction: number; // ideal / makespan
  readonly efficiency: number; // usefulPairs·heads / (makespan · #SMs · BQ·BK)
}

/** The tiles of the kernel's work order for one head (text tiles, then image tiles in band order). */
export function tileWork(spec: KernelSpec): { tiles: TileWork[]; blockQ: number; blockK: number; groups: number } {
  const plan = fixedPlan(spec) as BoundPlan | null;
  if (!plan) throw new Error(`${spec.pattern}: sizes are taken at launch; bind them first`);
  const sm = planSm90(spec);
  if (!sm.supported) throw new Error(`${spec.pattern}: no sm_90a kernel (${sm.reason})`);
  const BQ = sm.blockQ, BK = sm.blockK, D = plan.dims.length;
  const ext = groupExtents(spec), gw = ext[D - 1], gh = D >= 2 ? ext[D - 2] : 1;
  const gridW = plan.dims[D - 1].size, opts = { blockK: BK, runs: spec.sm90.runs };
  // the producer's box test (templates/kernel_sm90.cu.hbs), edge boxes as the plan has them
  const edge = (t: KeyTile): boolean => isEdgeBoxed(sm.edgeBoxes, t.seg);
  const isBox = (t: KeyTile): boolean => {
    if (edge(t)) return true;
    if (t.n !== BK) return false;
    const planeRun = spec.sm90.runs && !t.seg.contiguous && t.seg.lw === gridW && (t.seg.lw * t.seg.lh) % BK === 0;
    return t.seg.contiguous || planeRun || (sm.rasterBox !== null && t.seg.lw === gw && t.seg.lh === gh);
  };
  const half = (qrows: number): boolean => sm.halfTiles && qrows <= BQ / 2;
  const tileOf = (text: boolean, group: number, qrows: number, q: number[] | null): TileWork => {
    const ks = keyTiles(plan, q, plan.layout.textCount, opts);
    return { text, group, qrows, keyTiles: ks.length, keyTokens: ks.reduce((n, t) => n + t.n, 0), gathered: ks.filter((t) => !isBox(t)).length,
      edgeBoxed: ks.filter(edge).length, half: false };
  };
  const tiles: TileWork[] = [];
  if (plan.textQueries) {
    const T = plan.layout.textCount;
    const one = T > 0 ? tileOf(true, -1, 0, null) : null;
    for (let off = 0; off < T; off += BQ) tiles.push({ ...one!, qrows: Math.min(BQ, T - off), half: half(Math.min(BQ, T - off)) });
  }
  const G = plan.layout.queryGroups, L = plan.layout.groupsLast, R = spec.sm90.blockRows;
  // query_group(): bands of R group rows, column by column inside a band (the whole launch is one part)
  const order = (g: number): number => {
    if (!(R > 1 && D >= 2 && G % L === 0)) return g;
    const b = Math.floor(g / (R * L)), r = g - b * R * L, rows = Math.min(R, G / L - b * R);
    const col = Math.floor(r / rows), row = r - col * rows;
    return (b * R + row) * L + col;
  };
  const tpg = sm.tilesPerGroup;
  const cache = new Map<number, TileWork>();
  for (let i = 0; i < G; i++) {
    const g = order(i), q = decodeGroup(plan, g);
    const len = plan.dims.reduce((n, d, a) => n * Math.min(d.group, d.size - q[a] * d.group), 1);
    let w = cache.get(g);
    if (!w) { w = tileOf(false, g, 0, q); cache.set(g, w); }
    for (let t = 0; t < tpg; t++) if (t * BQ < len) tiles.push({ ...w, qrows: Math.min(BQ, len - t * BQ), half: half(Math.min(BQ, len - t * BQ)) });
  }
  return { tiles, blockQ: BQ, blockK: BK, groups: G };
}

/** Greedy list schedule of `costs` (in order) on `ctas` workers: the finish time of each. */
export function listSchedule(costs: readonly number[], ctas: number): number[] {
  // a binary heap of (free time, cta): the CTA that frees first takes the next item (ties: lower id)
  const heap = new MinHeap<[number, number]>((a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]));
  const push = (x: [number, number]): void => heap.push(x);
  const pop = (): [number, number] => heap.pop()!;
  const n = Math.min(ctas, costs.length), finish = new Array<number>(n).fill(0);
  for (let c = 0; c < n; c++) push([0, c]);
  for (const cost of costs) {
    const [t, c] = pop();
    finish[c] = t + cost;
    push([finish[c], c]);
  }
  return finish;
}

export function summarize(spec: KernelSpec, m: ModelOptions = DEFAULT_MODEL): WorkSummary {
  const { tiles, blockQ: BQ, blockK: BK, groups } = tileWork(spec);
  let keyTiles = 0, useful = 0, rowsW = 0, keysW = 0, gathered = 0, boxed = 0, halves = 0, kmin = Infinity, kmax = 0;
  for (const t of tiles) {
    keyTiles += t.keyTiles; useful += t.qrows * t.keyTokens; gathered += t.gathered; boxed += t.edgeBoxed; halves += t.half ? t.keyTiles : 0;
    rowsW += t.qrows * t.keyTiles; keysW += t.qrows * t.keyTokens;
    kmin = Math.min(kmin, t.keyTiles); kmax = Math.max(kmax, t.keyTiles);
  }
  const cost = (t: TileWork): number => {
    const kt = m.packKeys ? Math.ceil(t.keyTokens / BK) : t.keyTiles;
    const g = m.packKeys ? 0 : t.gathered;
    const rows = m.packRows ? t.qrows / BQ : t.half ? m.halfCost ?? 0.5 : 1;
    return rows * (kt + m.gatherExtra * g) + m.overhead;
  };
  const text = tiles.filter((t) => t.text), image = tiles.filter((t) => !t.text);
  const costs: number[] = [];
  for (let h = 0; h < m.heads; h++) for (const t of text) costs.push(cost(t));
  for (let h = 0; h < m.heads; h++) for (const t of image) costs.push(cost(t));
  const finish = listSchedule(costs, m.sms);
  const makespan = Math.max(0, ...finish), total = costs.reduce((a, b) => a + b, 0);
  return {
    queryTiles: tiles.length,
    groups,
    keyTiles,
    usefulPairs: useful,
    issuedPairs: keyTiles * BQ * BK,
    // (a pattern with no visible key issues nothing: fractions of nothing are 1, and 0 gathered)
    usefulFraction: keyTiles > 0 ? useful / (keyTiles * BQ * BK) : 1,
    queryRowFraction: keyTiles > 0 ? rowsW / (keyTiles * BQ) : 1,
    keyFraction: rowsW > 0 ? keysW / (rowsW * BK) : 1,
    gatheredFraction: keyTiles > 0 ? gathered / keyTiles : 0,
    edgeBoxedFraction: keyTiles > 0 ? boxed / keyTiles : 0,
    halfFraction: keyTiles > 0 ? halves / keyTiles : 0,
    keyTilesPerTile: { min: kmin, mean: keyTiles / tiles.length, max: kmax },
    makespan,
    ideal: total / finish.length,
    tailFraction: makespan > 0 ? total / finish.length / makespan : 1,
    efficiency: makespan > 0 ? (useful * m.heads) / (makespan * m.sms * BQ * BK) : 0,
  };
}

/** The bench's shapes (bench/cuda/cases.ts), raster, default variant. */
export function specOf(ir: PatternIR, sm90: Partial<Sm90Variant> = {}): KernelSpec {
  const r = planKernel(ir, { ...DEFAULT_SM90_VARIANT, ...sm90 });
  if (!r.spec) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return r.spec;
}

/** `edgeBoxes=false,halfTiles=true`: boolean fields of the sm_90a variant (codegen/cuda/spec.ts Sm90Variant). */
export function parseSm90(text: string): Partial<Sm90Variant> {
  const out: Record<string, boolean> = {};
  for (const item of text.split(',').filter((x) => x !== '')) {
    const [k, v] = item.split('=');
    if (!(k in DEFAULT_SM90_VARIANT) || typeof DEFAULT_SM90_VARIANT[k as keyof Sm90Variant] !== 'boolean') throw new Error(`--sm90: ${k} is not a boolean field of the variant (${Object.keys(DEFAULT_SM90_VARIANT).join(', ')})`);
    if (v !== 'true' && v !== 'false') throw new Error(`--sm90: ${k} needs =true or =false, got ${v}`);
    out[k] = v === 'true';
  }
  return out as Partial<Sm90Variant>;
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log('usage: node dist/bench/cuda/work_model.js [--json] [--sms N] [--heads N] [--overhead U] [--gather-extra U] [--pack-keys] [--pack-rows] [--half-cost F] [--sm90 edgeBoxes=true,halfTiles=true]\n' +
      'The sm_90a kernel\'s issued vs useful MMA work and its persistent schedule at the bench\'s divisible and ragged shapes (issue 19).\n' +
      '--sm90: the kernel variant to model (the default variant\'s fields otherwise); --pack-keys / --pack-rows: what-ifs no kernel does.');
    return;
  }
  const num = (flag: string, d: number): number => {
    const i = argv.indexOf(flag);
    if (i < 0) return d;
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a number >= 0, got ${argv[i + 1]}`);
    return v;
  };
  const m: ModelOptions = { sms: num('--sms', 132), heads: num('--heads', 24), overhead: num('--overhead', 1), gatherExtra: num('--gather-extra', 0),
    packKeys: argv.includes('--pack-keys'), packRows: argv.includes('--pack-rows'), halfCost: num('--half-cost', 0.5) };
  const vi = argv.indexOf('--sm90');
  const sm90 = vi >= 0 ? parseSm90(argv[vi + 1] ?? '') : {};
  const { loadPattern } = await import('./emit.js');
  // the bench's shapes (bench/cuda/cases.ts): divisible and ragged, both orders
  const shapes: [string, string, number[]][] = [
    ['hunyuan 32x48x80', 'hunyuan_grat_b', [32, 48, 80]], ['hunyuan 33x45x80', 'hunyuan_grat_b', [33, 45, 80]],
    ['hunyuan 32x48x80', 'hunyuan_grat_x', [32, 48, 80]], ['hunyuan 33x45x80', 'hunyuan_grat_x', [33, 45, 80]],
    ['flux 1024x1024', 'flux_grat_b', [64, 64]], ['flux 1360x768', 'flux_grat_b', [48, 85]],
    ['flux 1024x1024', 'flux_grat_x', [64, 64]], ['flux 1360x768', 'flux_grat_x', [48, 85]],
    ['flux 8192x8192', 'flux_grat_b', [512, 512]], ['flux 8192x8192', 'flux_grat_x', [512, 512]],
  ];
  const variant = { ...DEFAULT_SM90_VARIANT, ...sm90 };
  const rows = (['raster', 'grouped'] as const).flatMap((order) => shapes.map(([shape, file, grid]) => {
    const ir = loadPattern(`examples/${file}.grat`, grid);
    return { shape, pattern: file, order, ...summarize(specOf({ ...ir, order }, sm90), m) };
  }));
  if (argv.includes('--json')) { console.log(JSON.stringify({ model: m, sm90: variant, rows }, null, 1)); return; }
  console.log(`model: ${m.sms} SMs, ${m.heads} heads, overhead ${m.overhead} units a work tile, gathered key tile +${m.gatherExtra}${m.packKeys ? ', what-if: keys packed' : ''}${m.packRows ? ', what-if: query rows packed' : ''}; ` +
    `kernel: edge boxes ${variant.edgeBoxes ? 'on' : 'off'}, half tiles ${variant.halfTiles ? 'on' : 'off'}`);
  console.log('shape              pattern         order    qtiles ktiles/tile(min/mean/max)  useful  qrows   keys  gathered edgebox  half   tail   eff');
  for (const r of rows) {
    const k = r.keyTilesPerTile;
    console.log(`${r.shape.padEnd(18)} ${r.pattern.padEnd(15)} ${r.order.padEnd(8)} ${String(r.queryTiles).padStart(6)} ${`${k.min}/${k.mean.toFixed(1)}/${k.max}`.padEnd(24)} ${r.usefulFraction.toFixed(3)}  ${r.queryRowFraction.toFixed(3)}  ${r.keyFraction.toFixed(3)}  ${r.gatheredFraction.toFixed(3)}    ${r.edgeBoxedFraction.toFixed(3)}   ${r.halfFraction.toFixed(3)}  ${r.tailFraction.toFixed(3)}  ${r.efficiency.toFixed(3)}`);
  }
}

if (process.argv[1] && /work_model\.(js|ts)$/.test(process.argv[1])) {
  main(process.argv.slice(2)).catch((e: Error) => { console.error(`work_model: ${e.message}`); process.exit(1); });
}
