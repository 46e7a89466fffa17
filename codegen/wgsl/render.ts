/**
 * Renders one WGSL variant of a spec from templates/attention.wgsl.hbs. Every value handed to
 * the template is a number, a boolean or text built here from numbers and identifiers.
 */
import { printCursor, WGSL } from '../cursor.js';
import { template } from '../kernel.js';
import { isBound, kernelName, tilesPerGroup, wgslLaunch, type WgslSpec, type WgslVariant } from './spec.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** A V-chunk load of one invocation: register r, key j, key offset jj16, vec4 column offset m8. */
interface VLoad { readonly r: number; readonly j: number; readonly jj16: number; readonly m8: number }
/** A K-chunk load of one invocation: register r, key j, vec4 offset j16x8. */
interface KLoad { readonly r: number; readonly j: number; readonly j16x8: number }

/** Every value templates/attention.wgsl.hbs reads. */
export interface WgslTemplateContext {
  readonly kernel: string;
  readonly variant: string;
  readonly pattern: string;
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly reductionNote: string;
  readonly elem: string;
  readonly d4: number;
  readonly blockQ: number;
  readonly blockK: number;
  readonly lanes: number;
  readonly threads: number;
  readonly rq: number;
  readonly rk: number;
  readonly pcols: number;
  readonly kpc: number;
  readonly colsPerThread: number;
  /** Some size is taken at launch: the tile counts and the text layout are read per launch (Params, the Geom uniform). */
  readonly runtime: boolean;
  /** `, G` after the arguments of the printed cursor's functions where some size is taken at launch. */
  readonly geomArg: string;
  readonly textTiles: number;
  readonly textSplits: number;
  readonly splits: boolean;
  readonly tilesPerGroup: number;
  readonly gridTiles: number;
  /** The query tile lives in workgroup memory (else each invocation re-reads its rows from q). */
  readonly stageQ: boolean;
  readonly workgroupBytes: number;
  readonly qsLen: number;
  readonly psLen: number;
  readonly rows: readonly number[];
  readonly keys: readonly number[];
  readonly cols: readonly number[];
  readonly comps: readonly string[];
  readonly ldj: readonly number[];
  readonly kchunks: readonly { readonly ch: number; readonly dim0: number; readonly dim1: number; readonly col0: number; readonly nextCol: number; readonly last: boolean; readonly loads: readonly KLoad[] }[];
  readonly v0loads: readonly VLoad[];
  readonly vchunks: readonly { readonly vc: number; readonly key0: number; readonly key1: number; readonly last: boolean; readonly loads: readonly VLoad[]; readonly nextLoads: readonly VLoad[] }[];
  readonly maxExpr: string;
  readonly psumExpr: string;
  readonly shuffles: readonly number[];
  readonly cursor: string;
  /** The subgroup-matrix variant (the values below are 0 / empty otherwise). */
  readonly matrix: boolean;
  readonly mm: number;
  readonly mn: number;
  readonly mk: number;
  readonly subgroupSize: number;
  readonly subgroupCount: number;
  readonly rowTiles: number;
  /** Subgroups sharing a row tile: O column tiles sg / rowTiles + nsgPerRow * i. */
  readonly nsgPerRow: number;
  readonly vpt: number;
  readonly kpt: number;
  readonly ks: number;
  readonly ss: number;
  readonly ps: number;
  readonly kbLen: number;
  readonly ssLen: number;
  /** Head-dim steps of QK^T (left matrices qm<i>), at element offset `off`. */
  readonly dsteps: readonly { readonly i: number; readonly off: number }[];
  /** Key steps of PV, at element offset `off` of a probability row / V tile row. */
  readonly ksteps: readonly { readonly off: number }[];
  /** This subgroup's O tiles (om<i>): column offset `off` from its first, vec4 column `col4` of the output slice it goes out in. */
  readonly otiles: readonly { readonly i: number; readonly off: number; readonly col4: number }[];
  /** vec4s of an output slice per invocation. */
  readonly outVec4: number;
}

/** The template values of the subgroup-matrix variant (spec.ts matrixVariantOf checked that the partition fits). */
function matrixContext(v: WgslVariant, headDim: number): Pick<WgslTemplateContext, 'matrix' | 'mm' | 'mn' | 'mk' | 'subgroupSize' | 'subgroupCount' | 'rowTiles' | 'nsgPerRow' | 'vpt' | 'kpt' | 'ks' | 'ss' | 'ps' | 'kbLen' | 'ssLen' | 'dsteps' | 'ksteps' | 'otiles' | 'outVec4'> {
  const m = v.matrix;
  if (!m) {
    return { matrix: false, mm: 0, mn: 0, mk: 0, subgroupSize: 0, subgroupCount: 0, rowTiles: 0, nsgPerRow: 0, vpt: 0, kpt: 0, ks: 0, ss: 0, ps: 0, kbLen: 0, ssLen: 0, dsteps: [], ksteps: [], otiles: [], outVec4: 0 };
  }
  const subgroupCount = v.threads / m.subgroupSize, rowTiles = v.blockQ / m.M, nsgPerRow = subgroupCount / rowTiles;
  const ks = headDim + 8, ss = v.blockK + 4, ps = v.blockK + 8;
  return {
    matrix: true, mm: m.M, mn: m.N, mk: m.K, subgroupSize: m.subgroupSize, subgroupCount, rowTiles, nsgPerRow,
    vpt: headDim / 4 / v.lanes, kpt: v.blockK / v.lanes, ks, ss, ps,
    kbLen: v.blockK * ks, ssLen: v.blockQ * ss,
    dsteps: range(headDim / m.K).map((i) => ({ i, off: i * m.K })),
    ksteps: range(v.blockK / m.K).map((i) => ({ off: i * m.K })),
    // round i: every subgroup's tile i, columns [i * nsgPerRow * N, (i + 1) * nsgPerRow * N) = one BK-wide slice in ss
    otiles: range(headDim / m.N / nsgPerRow).map((i) => ({ i, off: i * nsgPerRow * m.N, col4: (i * nsgPerRow * m.N) / 4 })),
    outVec4: v.blockK / 4 / v.lanes,
  };
}

/** The WGSL source of one variant. Deterministic: a pure function of (spec, variant). */
export function renderVariant(spec: WgslSpec, v: WgslVariant): string {
  // sizes taken at launch: no tile counts here; text tiles may always be split (the runtime decides per launch)
  const f = isBound(spec) ? wgslLaunch(spec) : { textTiles: 0, textSplits: 0, workgroups: 0, tilesPerGroup: tilesPerGroup(spec) };
  const d4 = spec.headDim / 4;
  const shuffles: number[] = [];
  for (let s = v.lanes / 2; s >= 1; s /= 2) shuffles.push(s);
  const rq = v.rowsPerThread, rk = v.keysPerThread;
  const keys = range(rk);
  // the loader: invocation t loads key t/8 + 16 j (j < 4) of a tile, vec4 column t%8 (+ 8 m)
  const ldj = range(4);
  const nkch = d4 / 8; // K chunks of 32 dims (8 vec4) x BLOCK_K keys = 512 vec4
  const kpc = 512 / d4; // keys per V chunk (512 vec4)
  const nvc = v.blockK / kpc;
  const vloads = (vc: number): VLoad[] =>
    range(kpc / 16).flatMap((jj) => range(d4 / 8).map((m) => ({ r: jj * (d4 / 8) + m, j: vc * (kpc / 16) + jj, jj16: 16 * jj, m8: 8 * m })));
  const kloads: KLoad[] = ldj.map((j) => ({ r: j, j, j16x8: 128 * j }));
  for (const vc of range(nvc)) if (vloads(vc).length !== 4) throw new Error('V chunk loads must be 4 per invocation');
  const ctx: WgslTemplateContext = {
    kernel: kernelName(spec),
    variant: v.id,
    pattern: spec.pattern,
    f16: v.precision === 'f16',
    subgroups: v.reduction !== 'shared',
    reductionNote: v.matrix ? 'subgroupShuffleXor across a row\'s 4 invocations' : v.reduction === 'shared'
      ? 'every lane reads its rows\' scores back from workgroup memory'
      : `subgroupShuffleXor across the ${v.lanes} lanes of a row group (needs subgroups of >= ${v.lanes} invocations)`,
    elem: v.precision,
    d4,
    blockQ: v.blockQ,
    blockK: v.blockK,
    lanes: v.lanes,
    threads: v.threads,
    rq,
    rk,
    pcols: v.blockQ / rq,
    kpc,
    colsPerThread: d4 / v.lanes,
    runtime: !isBound(spec),
    geomArg: isBound(spec) ? '' : ', G',
    textTiles: f.textTiles,
    textSplits: f.textSplits,
    splits: isBound(spec) ? f.textSplits > 1 : spec.textQueries !== null,
    tilesPerGroup: f.tilesPerGroup,
    gridTiles: f.workgroups,
    stageQ: v.qStaging === 'tile',
    workgroupBytes: v.workgroupStorage,
    qsLen: v.blockQ * d4,
    psLen: v.matrix ? v.blockQ * (v.blockK + 8) : (v.blockK * v.blockQ) / rq,
    rows: range(rq),
    keys,
    cols: range(d4 / v.lanes),
    comps: ['x', 'y', 'z', 'w'],
    ldj,
    kchunks: range(nkch).map((ch) => ({ ch, dim0: 32 * ch, dim1: 32 * ch + 32, col0: 8 * ch, nextCol: 8 * (ch + 1), last: ch === nkch - 1, loads: kloads })),
    v0loads: vloads(0),
    vchunks: range(nvc).map((vc) => ({ vc, key0: vc * kpc, key1: (vc + 1) * kpc, last: vc === nvc - 1, loads: vloads(vc), nextLoads: vc + 1 < nvc ? vloads(vc + 1) : [] })),
    maxExpr: keys.slice(1).reduce((e, k) => `max(${e}, s${k})`, 's0'),
    psumExpr: `(${keys.map((k) => `p${k}`).join(' + ')})`,
    shuffles,
    cursor: printCursor(spec, WGSL, { blockK: v.blockK, runs: false }),
    ...matrixContext(v, spec.headDim),
  };
  return template<WgslTemplateContext>('wgsl', 'attention.wgsl.hbs')(ctx);
}
