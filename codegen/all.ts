/**
 * Loads every backend so `registry.ts` knows them. One import line per target folder
 * (each target's index.ts calls registerBackend); keep the lines sorted.
 */
import './cuda/index.js';
import './onnx/index.js';
import './wgsl/index.js';
export { backendFor, knownBackends } from './registry.js';
