/**
 * What the `webgpu` package's Dawn offers on this machine, with and without Dawn toggles (issue 22
 * items 1 and 2): per toggle set, the adapter's info (subgroup sizes, subgroup-matrix configs),
 * features, limits and whether a device with gratc's features is granted; then one 16x16x16
 * subgroup-matrix product per layout the WGSL kernel uses (left row-major, right column- and
 * row-major, result row-major; workgroup arrays with padded strides, as in the kernel) checked
 * against a float64 product: the meaning of the builtins on this driver, before the kernel.
 *
 *   npx tsx bench/webgpu/probe.ts [--backend vulkan|default] [--out FILE]
 *   (on the GPU machine: bundled as .node/new/probe.mjs, see gpu_run.sh PROBE=1)
 *
 * Toggles (Dawn's Toggles.cpp): allow_unsafe_apis exposes chromium-experimental-subgroup-matrix;
 * expose_wgsl_experimental_features exposes the safe experimental features only;
 * vulkan_enable_f16_on_nvidia lifts Dawn's default of no shader-f16 on NVIDIA's Vulkan driver
 * (crbug.com/42251215; the toggle's own description: "Enables F16 on Nvidia GPUs with Vulkan").
 */
import { writeFileSync } from 'node:fs';
import { nodeGpu, type NodeBackend } from '../../runtime/webgpu/node.js';
import { fromHalf, SUBGROUP_MATRIX_FEATURE, toHalf } from '../../runtime/webgpu/index.js';

const TOGGLE_SETS: string[][] = [
  [],
  ['vulkan_enable_f16_on_nvidia'],
  ['allow_unsafe_apis'],
  ['expose_wgsl_experimental_features', 'vulkan_enable_f16_on_nvidia'],
  ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'],
];

type Info = GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean; subgroupMatrixConfigs?: Iterable<Record<string, unknown>> };

function infoOf(info: Info): Record<string, unknown> {
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
    subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize, isFallbackAdapter: info.isFallbackAdapter,
    subgroupMatrixConfigs: [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K })),
  };
}

function limitsOf(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k in l) { const v = (l as unknown as Record<string, unknown>)[k]; if (typeof v === 'number') out[k] = v; }
  return out;
}

/** The WGSL of one product D = A B (16x16x16, f16 -> f32) through the kernel's load/store forms. */
const MMA_WGSL = (rightMajor: 'col_major' | 'row_major'): string => `
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> a_in: array<f16>;   // A: 16 x 16, row-major
@group(0) @binding(1) var<storage, read> b_in: array<f16>;   // B: 16 x 16, row-major
@group(0) @binding(2) var<storage, read_write> d_out: array<f32>;  // 4 subgroups x (16 x 16), row-major
const S: u32 = 24u;  // padded stride (f16), as the kernel's D + 8
var<workgroup> a: array<f16, 384>;
var<workgroup> b: array<f16, 384>;
var<workgroup> d: array<f32, 1280>;  // 4 x 16 rows x 20 (padded)
@compute @workgroup_size(128)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32) {
  for (var i = lid; i < 256u; i += 128u) {
    a[(i / 16u) * S + i % 16u] = a_in[i];
    // ${rightMajor === 'col_major' ? 'B^T stored row-major = B column-major (the kernel\'s K tile: keys are rows)' : 'B row-major (the kernel\'s V tile)'}
    ${rightMajor === 'col_major' ? 'b[(i % 16u) * S + i / 16u] = b_in[i];' : 'b[(i / 16u) * S + i % 16u] = b_in[i];'}
  }
  workgroupBarrier();
  let l = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&a, 0u, S);
  let r = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, ${rightMajor}>(&b, 0u, S);
  let acc = subgroupMatrixMultiplyAccumulate(l, r, subgroup_matrix_result<f32, 16, 16>());
  subgroupMatrixStore<row_major>(&d, sg * 320u, acc, 20u);
  workgroupBarrier();
  for (var i = lid; i < 1024u; i += 128u) { d_out[i] = d[(i / 256u) * 320u + ((i % 256u) / 16u) * 20u + i % 16u]; }
}`;

async function mmaCheck(device: GPUDevice, rightMajor: 'col_major' | 'row_major'): Promise<Record<string, unknown>> {
  try {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: MMA_WGSL(rightMajor) });
    const msgs = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
    if (msgs.length) { await device.popErrorScope(); return { rightMajor, error: msgs.join('; ') }; }
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const A = Array.from({ length: 256 }, (_, i) => fromHalf(toHalf(((i * 7) % 13) / 8 - 0.75)));
    const B = Array.from({ length: 256 }, (_, i) => fromHalf(toHalf(((i * 5) % 11) / 8 - 0.6)));
    const buf = (vals: number[]): GPUBuffer => {
      const b = device.createBuffer({ size: vals.length * 2, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(b, 0, Uint16Array.from(vals, toHalf));
      return b;
    };
    const out = device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 4096, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [buf(A), buf(B), out].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline); pass.setBindGroup(0, bind); pass.dispatchWorkgroups(1); pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, 4096);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const got = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    const err = await device.popErrorScope();
    let maxErr = 0, maxErrT = 0;
    for (let s = 0; s < 4; s++) {
      for (let r = 0; r < 16; r++) {
        for (let c = 0; c < 16; c++) {
          let want = 0, wantT = 0;
          for (let k = 0; k < 16; k++) { want += A[r * 16 + k] * B[k * 16 + c]; wantT += A[r * 16 + k] * B[c * 16 + k]; }
          maxErr = Math.max(maxErr, Math.abs(got[s * 256 + r * 16 + c] - want));
          maxErrT = Math.max(maxErrT, Math.abs(got[s * 256 + r * 16 + c] - wantT));
        }
      }
    }
    // maxErrIfTransposed: small where the driver read B the other way round (a layout mismatch)
    return { rightMajor, ok: maxErr < 1e-3, maxAbsError: maxErr, maxErrIfTransposed: maxErrT, validation: err?.message ?? null };
  } catch (e) {
    return { rightMajor, error: (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').slice(0, 600) };
  }
}

async function probe(backend: NodeBackend, toggles: string[]): Promise<Record<string, unknown>> {
  try {
    const g = await nodeGpu(backend, {}, toggles);
    const row: Record<string, unknown> = {
      toggles,
      adapter: infoOf(g.adapter.info as Info),
      adapterFeatures: [...g.adapter.features].sort(),
      deviceFeatures: [...g.device.features].sort(),
      adapterLimits: limitsOf(g.adapter.limits),
    };
    if (g.device.features.has(SUBGROUP_MATRIX_FEATURE)) row.mma = [await mmaCheck(g.device, 'col_major'), await mmaCheck(g.device, 'row_major')];
    return row;
  } catch (e) {
    return { toggles, error: (e instanceof Error ? e.message : String(e)).slice(0, 600) };
  }
}

function args(): Record<string, string> {
  const a = process.argv.slice(2), out: Record<string, string> = {};
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1] ?? '';
  return out;
}

const a = args();
const backend: NodeBackend = a.backend === 'default' ? 'default' : a.backend === 'null' ? 'null' : 'vulkan';
const rows: Record<string, unknown>[] = [];
for (const toggles of TOGGLE_SETS) {
  const r = await probe(backend, toggles);
  rows.push(r);
  const ad = r.adapter as Record<string, unknown> | undefined;
  console.log(`[${toggles.join(',') || 'no toggles'}] ${ad ? `${String(ad.description)}; subgroups ${String(ad.subgroupMinSize)}..${String(ad.subgroupMaxSize)}; f16 ${(r.deviceFeatures as string[]).includes('shader-f16')}; `
    + `subgroup matrix ${(r.deviceFeatures as string[]).includes(SUBGROUP_MATRIX_FEATURE)}; configs ${JSON.stringify(ad.subgroupMatrixConfigs)}; wgs ${String((r.adapterLimits as Record<string, number>).maxComputeWorkgroupStorageSize)}`
    + `${r.mma ? `; mma ${JSON.stringify(r.mma)}` : ''}` : `error: ${String(r.error)}`}`);
}
const result = { date: new Date().toISOString(), backend, node: process.version, probes: rows };
if (a.out) writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
