/**
 * Runs a one-shot WGSL compute shader on the shared WebGPU device (lavapipe in CI): binding 0 an
 * i32 input array, binding 1 an i32 output array, entry point `main` with workgroups of 64. Shader
 * compile errors and validation errors fail the calling test with their line:column.
 */
import { expect } from 'vitest';
import { sharedNodeGpu } from '../../runtime/webgpu/verify.js';

export async function runI32Shader(code: string, input: Int32Array, outputLength: number): Promise<Int32Array> {
  const { device } = await sharedNodeGpu();
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  expect(info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`)).toEqual([]);
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const inBuf = device.createBuffer({ size: Math.max(16, input.length * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(inBuf, 0, input);
  const bytes = outputLength * 4;
  const output = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: inBuf } }, { binding: 1, resource: { buffer: output } }] }));
  pass.dispatchWorkgroups(Math.ceil(outputLength / 64));
  pass.end();
  enc.copyBufferToBuffer(output, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const got = new Int32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  expect(await device.popErrorScope()).toBeNull();
  return got;
}
