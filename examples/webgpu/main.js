// The example page's script: plain ES modules, no bundler. It imports the typed module that
// `gratc compile --target wgsl` emits (compiled to JS; served as ./gen/pattern.js) and the
// runtime emitted next to it, runs the kernel once and publishes the output as window.__gratc
// (examples/webgpu/harness.ts reads it and compares it with the float64 reference).
import * as pattern from './gen/pattern.js';
import { requestGratDevice } from './gen/gratc_webgpu_runtime.js';

const logEl = document.getElementById('log');
const log = (s) => { logEl.textContent += `${s}\n`; };

/** Seeded uniform [-1, 1) values: the same generator as runtime/webgpu/verify.ts (randomValues). */
function randomValues(n, seed) {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

async function main() {
  const p = new URLSearchParams(location.search);
  const heads = Number(p.get('heads') ?? 1), layout = p.get('layout') ?? 'bnhd', seed = Number(p.get('seed') ?? 1);
  if (!navigator.gpu) throw new Error('WebGPU is not available here (it needs a secure context and a browser with WebGPU)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await requestGratDevice(adapter, 'gratc-example');
  const [, create] = Object.entries(pattern).find(([k, v]) => k.startsWith('create') && typeof v === 'function');
  const attn = await create(device, p.get('precision') ? { precision: p.get('precision') } : {});
  const valid = p.has('valid') ? Number(p.get('valid')) : attn.source.textCount;
  const n = heads * attn.tokens * attn.headDim;
  const tensor = (s) => attn.createTensor(layout, 1, heads, s === null ? undefined : randomValues(n, s));
  const q = tensor(seed), k = tensor(seed + 1), v = tensor(seed + 2), out = tensor(null);
  const t0 = performance.now();
  attn.run({ q, k, v, out, valid });
  const y = await attn.read(out);
  const ms = performance.now() - t0;
  const info = adapter.info;
  const result = {
    ok: true, kernel: attn.source.kernel, variant: attn.variant.id, precision: attn.precision, layout, heads, valid, seed, ms,
    adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' / '),
    output: Array.from(y),
  };
  log(`${attn.source.pattern}: ${attn.tokens} tokens × head_dim ${attn.headDim}, ${heads} head(s), ${layout}, valid ${valid}`);
  log(`adapter ${result.adapter}; variant ${result.variant}; ${ms.toFixed(1)} ms (first run, pipeline included)`);
  log(`out[0..4] = ${Array.from(y.slice(0, 4), (x) => x.toFixed(5)).join(', ')}`);
  window.__gratc = result;
}

main().catch((e) => {
  window.__gratc = { ok: false, error: String(e && e.message ? e.message : e) };
  log(`error: ${window.__gratc.error}`);
});
