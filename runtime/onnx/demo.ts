/**
 * The main job on the embedded default: build the default model, patch it with a pattern, run
 * the original, the patched model and the dense-masked reference (the same model with the
 * pattern's N×N mask, O(N²)) with onnxruntime, and report the max difference, the density and
 * the speedup. `gratc demo` prints it; the benchmark and tests call it too.
 */
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { patternStats } from '../../compiler/stats.js';
import { buildDefaultModel, DEFAULT_CONFIG, DEFAULT_PATTERN, defaultInputs, type DefaultModelConfig } from './default/model.js';
import type { Outputs } from '../files.js';
import { saveModel } from './model.js';
import { patchModel, type PatchRow } from './patch.js';
import { maxAbsDiff, openSession, runSession, timeSession, type Ep } from './run.js';
import type { NdArray } from './npy.js';

export interface DemoOptions {
  /** Pattern source (default: DEFAULT_PATTERN); its `?` sizes are bound to the model's. */
  readonly pattern?: string;
  readonly patternName?: string;
  readonly model?: Partial<DefaultModelConfig>;
  readonly ep?: Ep;
  readonly threads?: number;
  /** Timed runs of each model (median reported); default 3. */
  readonly repeat?: number;
  /** Skip the O(N²) dense-masked reference (large grids). */
  readonly noReference?: boolean;
  /** Also write default.onnx and default.grat.onnx into this folder. */
  readonly saveDir?: string;
  /** The command's outputs (runtime/files.ts): the saved models never land on a file it read. */
  readonly outputs?: Outputs;
}

export interface DemoResult {
  readonly model: DefaultModelConfig;
  readonly tokens: number;
  readonly pattern: string;
  readonly rows: readonly PatchRow[];
  readonly density: number;
  readonly speedupBound: number;
  /** max |patched − dense-masked reference| over the model's output; null when skipped. */
  readonly maxDiff: number | null;
  readonly tolerance: number;
  readonly ms: { readonly original: number; readonly patched: number };
  readonly speedup: number;
  readonly ep: Ep;
  readonly ok: boolean;
}

export type Stage = 'build' | 'patch' | 'load' | 'original' | 'patched' | 'reference';
export const STAGES: readonly Stage[] = ['build', 'patch', 'load', 'original', 'patched', 'reference'];
export const STAGE_TEXT: Record<Stage, string> = {
  build: 'building the default model', patch: 'patching', load: 'loading sessions',
  original: 'timing the original', patched: 'timing the patched model', reference: 'running the dense-masked reference',
};

/** The inputs the demo runs the model on (`gratc demo --save` writes them as text.npy, image.npy). */
export function demoInputs(cfg: DefaultModelConfig): { text: NdArray; image: NdArray } {
  const inp = defaultInputs(cfg);
  return {
    text: { dtype: 'float32', shape: [1, cfg.text, cfg.channels], data: inp.text },
    image: { dtype: 'float32', shape: [1, cfg.grid[0] * cfg.grid[1], cfg.channels], data: inp.image },
  };
}

export async function runDemo(opts: DemoOptions = {}, onStage: (s: Stage) => void = () => undefined): Promise<DemoResult> {
  const cfg: DefaultModelConfig = { ...DEFAULT_CONFIG, ...opts.model };
  const ep = opts.ep ?? 'cpu';
  const spec = { source: opts.pattern ?? DEFAULT_PATTERN, name: opts.patternName ?? 'pattern', grid: [...cfg.grid] };
  onStage('build');
  const model = buildDefaultModel(cfg);
  onStage('patch');
  const sparse = patchModel(model, spec);
  if (sparse.patched === 0) {
    // every layer gives the same reason: say it once
    const why = [...new Set(sparse.rows.map((r) => r.note))].join('; ') || 'no attention found';
    throw new Error(`the pattern patched no attention of the default model: ${why}`);
  }
  const dense = opts.noReference ? null : patchModel(model, spec, { lowering: 'dense-mask' });
  const bytes = { original: toBinary(ModelProtoSchema, model), patched: toBinary(ModelProtoSchema, sparse.model) };
  if (opts.saveDir) {
    await saveModel(model, `${opts.saveDir}/default.onnx`, { outputs: opts.outputs });
    await saveModel(sparse.model, `${opts.saveDir}/default.grat.onnx`, { outputs: opts.outputs });
  }
  const M = cfg.grid[0] * cfg.grid[1];
  const inputs = demoInputs(cfg);
  onStage('load');
  const sOrig = await openSession(bytes.original, { ep, threads: opts.threads });
  const sPatched = await openSession(bytes.patched, { ep, threads: opts.threads });
  const repeat = opts.repeat ?? 3;
  try {
    onStage('original');
    const tOrig = await timeSession(sOrig, inputs, repeat);
    onStage('patched');
    const tPatched = await timeSession(sPatched, inputs, repeat);
    let maxDiff: number | null = null;
    if (dense) {
      onStage('reference');
      const yPatched = (await runSession(sPatched, inputs)).image_out;
      const sRef = await openSession(toBinary(ModelProtoSchema, dense.model), { ep: 'cpu', threads: opts.threads });
      try {
        maxDiff = maxAbsDiff(yPatched, (await runSession(sRef, inputs)).image_out);
      } finally {
        await sRef.release();
      }
    }
    const stats = patternStats(sparse.functions[0].ir);
    const tolerance = 1e-4;
    return {
      model: cfg, tokens: M + cfg.text, pattern: sparse.functions[0].ir.name, rows: sparse.rows,
      density: stats.density, speedupBound: stats.speedupBound, maxDiff, tolerance,
      ms: { original: tOrig.median, patched: tPatched.median }, speedup: tOrig.median / tPatched.median, ep,
      ok: maxDiff === null || maxDiff <= tolerance,
    };
  } finally {
    await sOrig.release();
    await sPatched.release();
  }
}
