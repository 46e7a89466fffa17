/**
 * The order test files start in: the known heavy files first, heaviest first, so that two workers
 * do not end with one long file running alone (longest-processing-time first). The rest keep
 * vitest's own order (after a run: failed, then longest, from its cache; on a fresh clone:
 * largest file first). The list holds wall times of a cold run on a 2-core machine; a file
 * missing from it only starts later.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Heaviest first: nvcc and lavapipe compiles, Chromium, the property tests, subprocess-heavy CLI tests. */
export const HEAVY_FIRST: readonly string[] = [
  'test/cuda.nvcc_sm90a.test.ts',
  'test/cuda.nvcc_runtime.test.ts',
  'test/webgpu.lavapipe.test.ts',
  'test/reliability.backends.test.ts',
  'test/cli.examples.test.ts',
  'test/cli.exit.test.ts',
  'test/pipeline.masks.test.ts',
  'test/cuda.torch_cpu.test.ts',
  'test/cuda.nvcc.test.ts',
  'test/webgpu.browser.test.ts',
  'test/dsl.fuzz.test.ts',
  'test/webgpu.cli.test.ts',
  'test/cost.cli.test.ts',
  'test/onnx.webgpu.test.ts',
  'test/reliability.cache.test.ts',
  'test/fuzz.pipeline.test.ts',
  'test/reliability.cli.test.ts',
  'test/cli.inspect.test.ts',
  'test/cuda.loader_progress.test.ts',
  'test/reliability.files.test.ts',
];

const rank = (f: TestSpecification): number => {
  const i = HEAVY_FIRST.findIndex((p) => f.moduleId.replaceAll('\\', '/').endsWith(`/${p}`));
  return i < 0 ? HEAVY_FIRST.length : i;
};

export default class HeavyFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    return base.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map((x) => x.f);
  }
}
