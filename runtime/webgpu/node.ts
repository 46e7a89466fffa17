/// <reference types="@webgpu/types" />
/**
 * WebGPU in Node through Dawn (the `webgpu` package). Node-only; the runtime itself (index.ts)
 * never imports this. Dawn segfaults at exit when its GPU object is collected while a device is
 * alive, so every object `create()` returns is kept reachable for the life of the process.
 */
import { quietNative } from '../native_stderr.js';
import { requestGratDevice, type GratDeviceCap } from './index.js';

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };

const keepAlive: unknown[] = [];
let dawn: DawnModule | null = null;

async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  let mod: DawnModule;
  try {
    mod = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    throw new Error(`the 'webgpu' package (Dawn for Node) could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
  }
  // GPUBufferUsage, GPUMapMode, ... as in a browser
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return (dawn = mod);
}

export type NodeBackend = 'default' | 'vulkan' | 'null';

export interface NodeGpu {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** Adapter description: vendor, architecture, device, description. */
  readonly description: string;
}

/**
 * Dawn toggles (names from Dawn's Toggles.cpp) gratc may ask for: `allow_unsafe_apis` exposes the
 * experimental `chromium-experimental-subgroup-matrix` feature; `vulkan_enable_f16_on_nvidia`
 * lifts Dawn's default of offering no `shader-f16` on NVIDIA's Vulkan driver (crbug.com/42251215).
 * From the environment: GRATC_DAWN_TOGGLES=comma,separated.
 */
export const envDawnToggles = (): string[] => (process.env.GRATC_DAWN_TOGGLES ?? '').split(',').map((t) => t.trim()).filter(Boolean);

/**
 * An adapter and a device with gratc's features. `null` is Dawn's null backend: it validates
 * shaders with Tint and runs nothing. `cap` asks for less than the adapter offers (a small device);
 * `toggles` are Dawn toggles to enable (default: GRATC_DAWN_TOGGLES). Throws when no adapter is
 * found (a missing driver is an error, not a skip).
 */
export async function nodeGpu(backend: NodeBackend = 'default', cap: GratDeviceCap = {}, toggles: readonly string[] = envDawnToggles()): Promise<NodeGpu> {
  const { create } = await loadDawn();
  for (const t of toggles) if (!/^[a-z0-9_]+$/.test(t)) throw new Error(`not a Dawn toggle name: ${JSON.stringify(t)}`);
  const flags = [...(backend === 'null' ? ['backend=null'] : backend === 'vulkan' ? ['backend=vulkan'] : []), ...(toggles.length ? [`enable-dawn-features=${toggles.join(',')}`] : [])];
  const gpu = create(flags);
  keepAlive.push(gpu);
  // Dawn prints its limit clamping on fd 2 while it enumerates adapters (runtime/native_stderr.ts)
  const adapter = await quietNative(() => gpu.requestAdapter({ powerPreference: 'high-performance' }));
  if (!adapter) {
    throw new Error(`no WebGPU adapter (Dawn backend '${backend}'): install a Vulkan driver (on Debian: mesa-vulkan-drivers >= 25 for lavapipe)`);
  }
  keepAlive.push(adapter);
  const device = await requestGratDevice(adapter, `gratc-${backend}`, cap);
  keepAlive.push(device);
  const i = adapter.info;
  return { adapter, device, description: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown adapter' };
}

export interface WgslMessage {
  readonly type: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

let nullDevice: Promise<GPUDevice> | null = null;

/** A pipeline error; exceeding the null device's limits (e.g. 16 KiB of workgroup storage) is type 'limit', not a WGSL error. */
const pipelineMessage = (message: string): WgslMessage => ({
  type: /is larger than the maximum allowed|exceeds the maximum/i.test(message) ? 'limit' : 'error',
  line: 0,
  col: 0,
  message: message.replace(/\s*\n\s*/g, ' ').trim(),
});

/**
 * Validates WGSL with Tint (Dawn's null backend): compilation messages plus pipeline creation
 * (entry point, bindings). No message of type 'error' means valid; type 'limit' says the shader
 * needs more than the null device's default limits (real devices are asked for their maximum).
 */
export async function validateWgsl(code: string): Promise<WgslMessage[]> {
  // allow_unsafe_apis: the null adapter then offers subgroup matrices (validation only; it lists no configs)
  nullDevice ??= nodeGpu('null', {}, ['allow_unsafe_apis']).then((g) => g.device);
  const device = await nullDevice;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const out: WgslMessage[] = info.messages.map((m) => ({ type: m.type, line: m.lineNum, col: m.linePos, message: m.message }));
  if (!out.some((m) => m.type === 'error')) {
    try {
      await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    } catch (e) {
      out.push(pipelineMessage(e instanceof Error ? e.message : String(e)));
    }
  }
  const err = await device.popErrorScope();
  if (err && !out.some((m) => m.type === 'error' || m.type === 'limit')) out.push(pipelineMessage(err.message));
  return out;
}
