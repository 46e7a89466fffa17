/**
 * The one seeded PRNG (mulberry32): the default model's weights (runtime/onnx/default/model.ts),
 * `gratc verify`'s inputs and samples (runtime/webgpu/verify.ts) and the tests' random inputs.
 * Deterministic across platforms (32-bit integer arithmetic only), so the same seed gives the same
 * bytes everywhere. examples/webgpu/main.js (plain browser JS, no bundler) keeps a copy of it.
 */

/** Uniform values in [0, 1), multiples of 2^-32, from `seed` (any number; its low 32 bits count). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
