// The example page's script: plain ES modules, no bundler. It imports the typed module that
// `gratc compile --target wgsl` emits (compiled to JS; served as ./gen/pattern.js) and the
// runtime emitted next to it, runs the kernel on seeded random q, k, v, times it, compares the
// output with a float64 reference (./gen/reference.bin, when served: the harness computes it
// with compiler/reference.ts) and shows the pattern's picture (./gen/picture.svg, gratc's
// renderer). Everything it shows is also published as window.__gratc (examples/webgpu/harness.ts
// reads it and checks the output itself too).
import * as pattern from './gen/pattern.js';
import { requestGratDevice } from './gen/gratc_webgpu_runtime.js';

const $ = (id) => document.getElementById(id);
const logEl = $('log');
const log = (s) => { logEl.textContent += `${s}\n`; };
const show = (id, s) => { $(id).textContent = s; };

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

/** Rows of `hd` values widened to `D` with zeros (a head_dim the kernel lacks, padded; the scale stays the model's). */
function pad(x, hd, D) {
  if (hd === D) return x;
  const rows = x.length / hd, y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * hd, (r + 1) * hd), r * D);
  return y;
}

/** The picture, drawn: its size and the share of pixels that are not white (0 while it failed to load). */
async function drawPicture() {
  const img = $('picture');
  try {
    await img.decode();
  } catch {
    return { width: 0, height: 0, inked: 0 };
  }
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let inked = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250)) inked++;
  return { width: c.width, height: c.height, inked: inked / (c.width * c.height) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const p = new URLSearchParams(location.search);
  const heads = Number(p.get('heads') ?? 1), layout = p.get('layout') ?? 'bnhd', seed = Number(p.get('seed') ?? 1);
  const reps = Number(p.get('reps') ?? 3);
  const picture = drawPicture();
  if (!navigator.gpu) throw new Error('WebGPU is not available here (it needs a secure context and a browser with WebGPU)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  // wgs: ask for at most this much workgroup storage (16384: what every adapter has; the runtime then picks a -q16k variant)
  const device = await requestGratDevice(adapter, 'gratc-example', p.has('wgs') ? { maxComputeWorkgroupStorageSize: Number(p.get('wgs')) } : {});
  const [, create] = Object.entries(pattern).find(([k, v]) => k.startsWith('create') && typeof v === 'function');
  const attn = await create(device, p.get('precision') ? { precision: p.get('precision') } : {});
  const D = attn.headDim, hd = Number(p.get('hd') ?? D);
  if (!(hd >= 1 && hd <= D)) throw new Error(`hd=${hd}: the kernel's head_dim is ${D}`);
  const valid = p.has('valid') ? Number(p.get('valid')) : attn.source.textCount;
  const n = heads * attn.tokens * hd;
  const tensor = (s) => attn.createTensor(layout, 1, heads, s === null ? undefined : pad(randomValues(n, s), hd, D));
  const q = tensor(seed), k = tensor(seed + 1), v = tensor(seed + 2), out = tensor(null);
  show('pattern', `${attn.source.pattern}: ${attn.tokens} tokens (${attn.source.textCount} text), ${heads} head(s) × head_dim ${hd}${hd < D ? ` (padded to ${D})` : ''}, ${layout}, valid text ${valid}`);
  show('variant', `${attn.variant.id} — ${attn.reason}`);

  // the first run builds the pipeline (the browser compiles the shader); then `reps` timed runs
  let t0 = performance.now();
  attn.run({ q, k, v, out, valid });
  const y = await attn.read(out);
  const msFirst = performance.now() - t0;
  const times = [];
  for (let i = 0; i < reps; i++) {
    t0 = performance.now();
    attn.run({ q, k, v, out, valid });
    await device.queue.onSubmittedWorkDone();
    times.push(performance.now() - t0);
  }
  const ms = reps ? median(times) : msFirst;
  show('time', `${ms.toFixed(2)} ms per run (median of ${reps}); first run ${msFirst.toFixed(1)} ms with the pipeline`);

  // the output's model columns; the padded ones must be 0 (v is 0 there)
  const rows = y.length / D, output = new Float32Array(rows * hd);
  let padMax = 0;
  for (let r = 0; r < rows; r++) {
    output.set(y.subarray(r * D, r * D + hd), r * hd);
    for (let c = hd; c < D; c++) padMax = Math.max(padMax, Math.abs(y[r * D + c]));
  }
  let maxAbsError = null;
  const ref = await fetch('./gen/reference.bin');
  if (ref.ok) {
    const want = new Float64Array(await ref.arrayBuffer());
    if (want.length !== output.length) throw new Error(`the reference has ${want.length} values, the output ${output.length}`);
    maxAbsError = padMax;
    for (let i = 0; i < want.length; i++) {
      const e = Math.abs(output[i] - want[i]);
      if (!(e <= maxAbsError)) maxAbsError = Number.isNaN(e) ? Infinity : e;
    }
    show('maxerr', maxAbsError.toExponential(2));
  } else {
    show('maxerr', 'no reference served');
  }
  const pic = await picture;
  show('picture-info', pic.width ? `${pic.width}×${pic.height} px, ${(100 * pic.inked).toFixed(1)}% drawn` : 'the picture did not load');

  const info = adapter.info;
  const result = {
    ok: true, kernel: attn.source.kernel, variant: attn.variant.id, reason: attn.reason, precision: attn.precision, layout, heads, valid, seed,
    ms, msFirst, headDim: hd, maxAbsError, picture: pic,
    adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' / '),
    output: Array.from(output),
  };
  show('adapter', result.adapter || 'unnamed adapter');
  log(`out[0..4] = ${Array.from(output.slice(0, 4), (x) => x.toFixed(5)).join(', ')}`);
  show('status', 'done');
  window.__gratc = result;
}

main().catch((e) => {
  window.__gratc = { ok: false, error: String(e && e.message ? e.message : e) };
  show('status', 'failed');
  log(`error: ${window.__gratc.error}`);
});
