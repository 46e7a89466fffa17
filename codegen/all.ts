/**
 * Every backend of this build, listed explicitly (keep the lines sorted). The CLI's `compile`
 * imports this module when it runs, so commands that emit nothing never load a code generator.
 */
import type { Backend } from './backend.js';
import { cudaBackend } from './cuda/index.js';
import { onnxBackend } from './onnx/index.js';
import { registerBackend } from './registry.js';
import { wgslBackend } from './wgsl/index.js';

export const BACKENDS: readonly Backend[] = [cudaBackend, onnxBackend, wgslBackend];
for (const b of BACKENDS) registerBackend(b);

export { backendFor, knownBackends } from './registry.js';
