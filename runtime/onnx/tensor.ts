/**
 * The ONNX protobuf helpers, for runtime code and tests. They live in codegen/onnx/tensor.ts
 * because the ONNX backend builds its FunctionProto with them (codegen never imports runtime/).
 */
export * from '../../codegen/onnx/tensor.js';
