/**
 * The WebGPU runtime's entry point for Node tools and tests. Its source lives in
 * codegen/wgsl/runtime.ts because `gratc compile --target wgsl` emits that file verbatim beside
 * every typed module (codegen never imports runtime/: the layers run one way).
 */
export * from '../../codegen/wgsl/runtime.js';
