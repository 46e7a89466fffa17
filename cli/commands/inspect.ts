/**
 * `gratc inspect FILE`: what a pattern is and what it costs (sizes, keys per query group,
 * density, FLOPs), as text or JSON, optionally drawn as PNG/SVG (picture.ts).
 */
import { Option, type Command } from 'commander';
import { groupCount, type PatternIR } from '../../compiler/ir.js';
import { groupCoords, groupSize, KeyGroupEnumerator } from '../../compiler/keys.js';
import { patternStats, type PatternStats } from '../../compiler/stats.js';
import { bindPlan, kernelPlan } from '../../compiler/plan.js';
import { spatialPlan, splitBytes, type RankShard } from '../../compiler/shard.js';
import { EXIT, inputError, terminalSafe, usageError } from '../exit.js';
import { inspectWork, requireAll } from '../../compiler/cost.js';
import { writeOutputs } from '../fsutil.js';
import { version, type CommandContext } from '../io.js';
import {
  countOf, gridOption, loadPattern, parseCoords, parseCount, printDiagnostics, printJson, printSummary, textOption,
  type SizeFlags,
} from '../load.js';
import { int, percent } from '../format.js';
import { buildPicture } from '../picture.js';
import { quietOption, startProgress } from '../progress.js';
import { renderPng } from '../picture_png.js';
import { renderSvg } from '../picture_svg.js';

interface InspectFlags extends SizeFlags {
  valid?: number;
  gpus?: number;
  heads?: number;
  json?: boolean;
  png?: string;
  svg?: string;
  query?: number;
  queryAt?: number[];
  quiet?: boolean;
}

export interface QueryJson {
  group: number;
  coords: number[];
  tokens: number;
  keyGroups: number[];
  keyTokens: number;
}

export interface InspectJson {
  gratc: string;
  path: string;
  pattern: string;
  grid: number[];
  dims: { name: string; size: number; group: number; groups: number; lastGroup: number; ragged: boolean }[];
  groupShape: number[];
  gridGroups: number[];
  ragged: boolean;
  order: string;
  text: { count: number; place: string; valid: number } | null;
  image: { terms: { kind: string; origin: string }[]; text: boolean };
  textQueries: { grid: boolean; text: boolean } | null;
  headDim: number;
  dtype: string;
  scale: number;
  stats: PatternStats;
  query: QueryJson;
  /** --gpus: the spatial split the CUDA plug's multi-GPU code runs, and what each split sends. */
  split: SplitJson | null;
  pictures: { png: string | null; svg: string | null };
}

export type SplitJson =
  | { gpus: number; error: string }
  | {
    gpus: number; heads: number; elemBytes: number; textOwner: number | null;
    ranks: (RankShard & { bytesSpatial: number; bytesUlysses: number; received: number })[];
    auto: 'spatial' | 'ulysses';
  };

/** The multi-GPU view of a pattern (compiler/shard.ts), at `heads` heads of 16-bit elements. */
export function splitJson(ir: PatternIR, gpus: number, heads: number): SplitJson {
  const g = bindPlan(kernelPlan(ir));
  const r = spatialPlan(g, gpus);
  if (!r.ok) return { gpus, error: r.reason };
  const b = splitBytes(g, r.plan, heads);
  return {
    gpus, heads, elemBytes: 2, textOwner: r.plan.textOwner, auto: b.auto,
    ranks: r.plan.ranks.map((x, i) => ({ ...x, received: x.recv.reduce((n, t) => n + t.end - t.start, 0), bytesSpatial: b.spatial[i], bytesUlysses: b.ulysses[i] })),
  };
}

/** The image query group the flags name (default: the middle one). */
export function chooseQuery(ir: PatternIR, flags: { query?: number; queryAt?: number[] }): number {
  const G = groupCount(ir);
  if (flags.query !== undefined) {
    if (flags.query >= G) throw usageError(`--query ${flags.query} is out of range: the pattern has ${G} query groups (0 to ${G - 1})`);
    return flags.query;
  }
  if (flags.queryAt !== undefined) {
    const p = flags.queryAt;
    if (p.length !== ir.dims.length) {
      throw usageError(`--query-at takes ${ir.dims.length} coordinate${ir.dims.length === 1 ? '' : 's'} (${ir.dims.map((d) => d.name).join(',')}), got ${p.length}`);
    }
    let g = 0;
    ir.dims.forEach((d, i) => {
      if (p[i] >= d.size) throw usageError(`--query-at: ${d.name}=${p[i]} is outside the grid (0 to ${d.size - 1})`);
      g = g * d.groups + Math.floor(p[i] / d.group);
    });
    return g;
  }
  // the middle group of the grid (middle coordinate along every dim)
  return ir.dims.reduce((g, d) => g * d.groups + Math.floor((d.groups - 1) / 2), 0);
}

export function inspectJson(ir: PatternIR, path: string, stats: PatternStats, query: number): InspectJson {
  const keys = new KeyGroupEnumerator(ir);
  const kg = Array.from(keys.keyGroups(query));
  const c = groupCoords(ir, query);
  const keyTokens = kg.reduce((n, k) => n + groupSize(ir, groupCoords(ir, k)), 0) + (ir.image.text ? stats.valid : 0);
  const dims = ir.dims.map((d) => ({
    name: d.name, size: d.size, group: d.group, groups: d.groups,
    lastGroup: d.size - (d.groups - 1) * d.group, ragged: d.size % d.group !== 0,
  }));
  return {
    gratc: version(),
    path,
    pattern: ir.name,
    grid: ir.dims.map((d) => d.size),
    dims,
    groupShape: ir.dims.map((d) => d.group),
    gridGroups: ir.dims.map((d) => d.groups),
    ragged: dims.some((d) => d.ragged),
    order: ir.order,
    text: ir.text ? { count: ir.text.count, place: ir.text.place, valid: stats.valid } : null,
    image: { terms: ir.image.terms.map((t) => ({ kind: t.kind, origin: t.origin })), text: ir.image.text },
    textQueries: ir.textQueries ? { grid: ir.textQueries.grid, text: ir.textQueries.text } : null,
    headDim: ir.headDim,
    dtype: ir.dtype,
    scale: ir.scale,
    stats,
    query: { group: query, coords: c, tokens: groupSize(ir, c), keyGroups: kg, keyTokens },
    split: null,
    pictures: { png: null, svg: null },
  };
}

// ---- text ----

const num = (n: number): string => (Number.isInteger(n) ? int(n) : n.toLocaleString('en-US', { maximumFractionDigits: 2 }));

/** 5.66e9 → "5.66 GFLOP". */
export function flops(n: number): string {
  const units = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  // trim zeros only after a decimal point: 500 stays 500, 5.50 becomes 5.5
  return `${n.toPrecision(3).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '')} ${units[i]}FLOP`;
}

export function inspectText(j: InspectJson): string {
  const s = j.stats;
  const rows: [string, string][] = [];
  const dims = (f: (d: InspectJson['dims'][number]) => number): string => j.dims.map((d) => `${d.name}=${f(d)}`).join(' ');
  rows.push(['pattern', j.pattern]);
  rows.push(['grid', `${dims((d) => d.size)} (${int(s.imageTokens)} tokens, ${j.dims.length}-D)`]);
  rows.push(['group', `${dims((d) => d.group)} → ${j.dims.length > 1 ? `${j.gridGroups.join('×')} = ` : ''}${int(s.queryGroups)} query groups`]);
  for (const d of j.dims.filter((x) => x.ragged)) {
    rows.push(['', `ragged: ${d.name}=${d.size} is not a multiple of ${d.group}; the last group along ${d.name} is ${d.lastGroup} wide`]);
  }
  rows.push(['order', j.order]);
  rows.push(['text', j.text ? `${int(j.text.count)} tokens ${j.text.place} the grid (valid ${int(j.text.valid)})` : 'none']);
  // one source term may lower to several IR terms (crisscross: one box per dim): show it once
  const sources: { origin: string; kinds: string[] }[] = [];
  for (const t of j.image.terms) {
    const last = sources[sources.length - 1];
    if (last && last.origin === t.origin) last.kinds.push(t.kind);
    else sources.push({ origin: t.origin, kinds: [t.kind] });
  }
  const region = [...sources.map((t) => t.origin), ...(j.image.text ? ['text'] : [])].join(' + ');
  rows.push(['image attends', region || '(nothing)']);
  for (const t of sources) {
    const what = t.kinds.every((k) => k === 'box') ? `${t.kinds.length === 1 ? 'a box' : `${t.kinds.length} boxes`} of groups` : `${t.kinds.length === 1 ? 'a predicate' : `${t.kinds.length} predicates`} over group coordinates`;
    rows.push(['', `${t.origin}: ${what}`]);
  }
  if (j.textQueries) {
    const tq = j.textQueries.grid && j.textQueries.text ? 'all' : [j.textQueries.grid ? 'grid' : '', j.textQueries.text ? 'text' : ''].filter(Boolean).join(' + ') || '(nothing)';
    rows.push(['text attends', tq]);
  }
  rows.push(['numerics', `head_dim ${j.headDim}, ${j.dtype}, scale ${+j.scale.toPrecision(6)}`]);
  rows.push(['tokens', `${int(s.tokens)} (${int(s.imageTokens)} image + ${int(s.textTokens)} text)`]);
  rows.push(['query groups', int(s.queryGroups)]);
  const mmm = (m: { min: number; mean: number; max: number }): string => `min ${num(m.min)}, mean ${num(m.mean)}, max ${num(m.max)}`;
  rows.push(['keys/group', `${mmm(s.keysPerQueryGroup)} tokens per query group`]);
  rows.push(['key groups', `${mmm(s.keyGroupsPerQueryGroup)} per query group`]);
  rows.push(['density', `${percent(s.density)} (${int(s.visiblePairs)} of ${int(s.tokens * s.tokens)} query-key pairs)`]);
  rows.push(['FLOPs/head', `${flops(s.flopsPerHead)} vs ${flops(s.fullFlopsPerHead)} for full attention`]);
  rows.push(['speedup ≤', Number.isFinite(s.speedupBound) ? `${num(s.speedupBound)}× (upper bound: 1 / density)` : '∞ (nothing is visible)']);
  const q = j.query;
  const qc = j.dims.map((d, i) => `${d.name}=${q.coords[i]}`).join(' ');
  rows.push(['query group', `${q.group} (${qc}, ${int(q.tokens)} tokens): ${q.keyGroups.length} key groups, ${int(q.keyTokens)} key tokens`]);
  const sp = j.split;
  if (sp && 'error' in sp) rows.push([`${sp.gpus} GPUs`, `no spatial split: ${sp.error}; Ulysses only`]);
  else if (sp) {
    const mib = (n: number): string => `${num(Math.round((n / 2 ** 20) * 10) / 10)} MiB`;
    const d0 = j.dims[0].name;
    sp.ranks.forEach((r, i) => {
      const inner = (r.inner[1] - r.inner[0]) / Math.max(1, (r.groups[1] - r.groups[0]) / Math.max(1, r.rows[1] - r.rows[0]));
      rows.push([i === 0 ? `${sp.gpus} GPUs, spatial` : '', `rank ${r.rank}: ${d0} group rows ${r.rows[0]}–${r.rows[1] - 1}, tokens ${int(r.tokens[0])}–${int(r.tokens[1] - 1)}${r.text ? ' (holds the text)' : ''}; `
        + `${num(inner)} of ${r.rows[1] - r.rows[0]} rows need no halo; receives ${int(r.received)} K/V tokens from rank${new Set(r.recv.map((t) => t.from)).size === 1 ? '' : 's'} ${[...new Set(r.recv.map((t) => t.from))].join(', ') || '(none)'}`]);
    });
    const max = (k: 'bytesSpatial' | 'bytesUlysses'): number => Math.max(...sp.ranks.map((r) => r[k]));
    rows.push(['', `sent by the busiest rank a call (${sp.heads} heads, 16-bit): spatial ${mib(max('bytesSpatial'))}, Ulysses ${mib(max('bytesUlysses'))} → auto runs ${sp.auto}`]);
  }
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(w)}${v}`.trimEnd()).join('\n') + '\n';
}

export function registerInspect(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .description('summarize a pattern: sizes, keys per query group, density, FLOPs; optionally draw it')
    .argument('<file>', 'the .grat file')
    .addOption(gridOption())
    .addOption(textOption())
    .addOption(new Option('--valid <n>', 'valid text length for the counts (default: the whole text segment)').argParser(parseCount))
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('--png <out.png>', 'draw the mask and the chosen query group as a PNG')
    .option('--svg <out.svg>', 'draw the mask and the chosen query group as an SVG (with title and legend)')
    .addOption(new Option('--query <g>', 'image query group to show, by index in group raster order (default: the middle one)').argParser(parseCount).conflicts('queryAt'))
    .addOption(new Option('--query-at <coords>', 'show the query group holding this grid position (token coordinates, outermost first, e.g. 10,20)').argParser(parseCoords))
    .addOption(new Option('--gpus <n>', 'also show the multi-GPU split over n GPUs (1 to 8): bands, halos, bytes each split sends').argParser(parseCount))
    .addOption(new Option('--heads <n>', 'attention heads for the byte counts of --gpus').default(24).argParser(parseCount))
    .addOption(quietOption())
    .addHelpText('after', `
The picture: left, the mask at group resolution (rows: query groups, columns:
key groups, in group raster order, plus one band for the text segment); right,
the chosen query group (red) and its key groups (blue) on the group grid (3-D:
one small grid per outer coordinate). Ticks are group coordinates; the title
and captions give the grid, group shape, density and the text band's count and
valid length. Very large group counts are downsampled (a cell is visible if any
group pair in it is). The PNG is the SVG drawn by resvg with DejaVu Sans.
Files are written atomically.

--json prints one object with these keys (stable):
  gratc, path, pattern, grid [sizes], dims [{name, size, group, groups,
  lastGroup, ragged}], groupShape, gridGroups, ragged, order,
  text {count, place, valid} | null, image {terms [{kind, origin}], text},
  textQueries {grid, text} | null, headDim, dtype, scale,
  stats {tokens, imageTokens, textTokens, valid, queryGroups, groupShape,
    gridGroups, keysPerQueryGroup {min, mean, max}, keyGroupsPerQueryGroup
    {min, mean, max}, visiblePairs, density, flopsPerHead, fullFlopsPerHead,
    speedupBound (null when nothing is visible)},
  query {group, coords, tokens, keyGroups [indices], keyTokens},
  split (with --gpus; else null) {gpus, error} | {gpus, heads, elemBytes,
    textOwner, auto ("spatial" | "ulysses"), ranks [{rank, tokens [start, end),
    rows, groups, grid, inner, text, recv [{from, start, end}], received,
    bytesSpatial, bytesUlysses}]},
  pictures {png, svg} (paths written, or null)
FLOPs count QKᵀ and PV (4 · head_dim per visible pair), per head.

Examples:
  $ gratc inspect examples/flux_grat_b.grat --grid 64x64
  $ gratc inspect examples/flux_grat_b.grat --grid 128x128 --valid 77 --png flux.png
  $ gratc inspect examples/hunyuan_grat_x.grat --grid 8x48x80 --query-at 3,20,40 --svg video.svg
  $ gratc inspect examples/video_causal_anchor.grat --json
  $ gratc inspect examples/flux_grat_b.grat --grid 512x512 --gpus 4`)
    .action(async (path: string, flags: InspectFlags) => {
      const { io } = ctx;
      const loaded = await loadPattern(io, path, flags);
      printDiagnostics(io, loaded.diagnostics, loaded.file);
      printSummary(io, countOf(loaded.diagnostics));
      const ir = loaded.ir;
      if (ir === null) { ctx.exit(EXIT.diagnostics); return; }

      if (flags.valid !== undefined) {
        if (!ir.text) throw usageError('--valid was given, but the pattern has no text segment');
        if (flags.valid > ir.text.count) throw usageError(`--valid ${flags.valid} is more than the text segment's ${ir.text.count} tokens`);
      }
      const query = chooseQuery(ir, flags);
      // the statistics (and a picture) cost what they scan: refused up front beyond the budget (compiler/cost.ts)
      requireAll(inspectWork(ir, { picture: flags.png !== undefined || flags.svg !== undefined }));
      // the statistics walk every query group's keys, the picture every group pair: seconds when large
      const picture = flags.png !== undefined || flags.svg !== undefined;
      const bar = startProgress(io, picture ? 2 : 1, 'the statistics (every query group\'s keys)', flags.quiet);
      const stats = patternStats(ir, flags.valid);
      const j = inspectJson(ir, path, stats, query);
      if (flags.gpus !== undefined) {
        if (flags.gpus < 1 || flags.gpus > 8) throw usageError(`--gpus ${flags.gpus} is outside 1 to 8 (the loader carries split plans for 1 to 8 GPUs)`);
        if (flags.heads !== undefined && flags.heads < 1) throw usageError('--heads must be at least 1');
        j.split = splitJson(ir, flags.gpus, flags.heads ?? 24);
      }

      const written: string[] = [];
      if (picture) {
        bar.update(1, 'the picture');
        const pic = buildPicture(ir, { query, stats });
        const files: { path: string; data: string | Uint8Array }[] = [];
        if (flags.png !== undefined) {
          files.push({ path: flags.png, data: await renderPng(pic) });
          j.pictures.png = flags.png;
          written.push(`wrote ${terminalSafe(flags.png)} (${pic.width}×${pic.height} PNG)`);
        }
        if (flags.svg !== undefined) {
          files.push({ path: flags.svg, data: renderSvg(pic) });
          j.pictures.svg = flags.svg;
          written.push(`wrote ${terminalSafe(flags.svg)} (${pic.width}×${pic.height} SVG)`);
        }
        // both or neither, never onto the .grat file read, a link, a device or a FIFO (cli/fsutil.ts)
        await writeOutputs(io, [path], files);
      }
      bar.stop();
      if (flags.json) printJson(io, j);
      else io.out(inspectText(j) + written.map((w) => `${w}\n`).join(''));
    });
}
