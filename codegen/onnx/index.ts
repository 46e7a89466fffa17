/**
 * The `onnx` backend: a standalone ONNX model holding the pattern's attention as a model-local
 * function (lower.ts) and a graph that calls it:
 *
 *   inputs  q, k, v: [batch, heads, N, head_dim]   (+ text_valid: int64, when the pattern has text:
 *           a scalar for every sample or [batch] per-sample lengths; declared without a shape)
 *   output  y:       [batch, heads, N, head_dim]
 *
 * `gratc patch` (runtime/onnx/patch.ts) puts the same function into an existing model instead.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, type ModelProto, type ValueInfoProto } from 'onnx-buf';
import { diag } from '../../dsl/diagnostics.js';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { WorkRefused } from '../../compiler/cost.js';
import type { Backend, EmitResult } from '../backend.js';
import { TARGET } from './target.js';
import { DT, node, valueInfo } from './tensor.js';
import { GRAT_DOMAIN, lowerPattern, type Lowered } from './lower.js';
import { lowerRuntime, needsGridInput, type RuntimeSpec } from './lower_runtime.js';

export { needsGridInput };

/** Default-domain opset of emitted models (every op the lowering uses exists since 13). */
export const EMIT_OPSET = 17;
export const IR_VERSION = 8n;

const ELEM: Record<PatternIR['dtype'], number> = { fp32: DT.FLOAT, fp16: DT.FLOAT16, bf16: DT.BFLOAT16 };

export function standaloneModel(ir: PatternIR, opts: { elemType?: number } = {}): { model: ModelProto; lowered: Lowered } {
  const elemType = opts.elemType ?? ELEM[ir.dtype];
  const lowered = lowerPattern(ir, { elemType, textValid: ir.text !== null, opset: EMIT_OPSET });
  const dims = ['batch', 'heads', totalTokens(ir), ir.headDim];
  const inputs = [valueInfo('q', elemType, dims), valueInfo('k', elemType, dims), valueInfo('v', elemType, dims)];
  // no declared shape: a scalar (as before) and a [batch] tensor are both accepted
  if (ir.text) inputs.push(valueInfo('text_valid', DT.INT64, null));
  return { model: modelOf(ir, lowered, inputs, valueInfo('y', elemType, dims)), lowered };
}

/**
 * A standalone model of the run-time lowering (lower_runtime.ts): q, k, v [batch, heads, tokens,
 * head_dim] with `tokens` open, text_valid as in standaloneModel, and `grid` (int64 [rank]) when
 * the sizes do not follow from the sequence length.
 */
export function standaloneRuntimeModel(ir: PatternIR, rt: RuntimeSpec, opts: { elemType?: number } = {}): { model: ModelProto; lowered: Lowered } {
  const elemType = opts.elemType ?? ELEM[ir.dtype];
  const lowered = lowerRuntime(ir, rt, { elemType, textValid: ir.text !== null, opset: EMIT_OPSET });
  const dims = ['batch', 'heads', 'tokens', ir.headDim];
  const inputs = [valueInfo('q', elemType, dims), valueInfo('k', elemType, dims), valueInfo('v', elemType, dims)];
  if (ir.text) inputs.push(valueInfo('text_valid', DT.INT64, null));
  if (needsGridInput(rt)) inputs.push(valueInfo('grid', DT.INT64, [ir.dims.length]));
  return { model: modelOf(ir, lowered, inputs, valueInfo('y', elemType, dims)), lowered };
}

function modelOf(ir: PatternIR, lowered: Lowered, inputs: ValueInfoProto[], output: ValueInfoProto): ModelProto {
  const graph = create(GraphProtoSchema, {
    name: `gratc_${ir.name}`,
    node: [node(lowered.name, lowered.inputs.slice(), ['y'], {}, { name: 'attention', domain: GRAT_DOMAIN })],
    input: inputs,
    output: [output],
  });
  return create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'gratc',
    graph,
    functions: [lowered.fn],
    opsetImport: [
      create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(EMIT_OPSET) }),
      create(OperatorSetIdProtoSchema, { domain: GRAT_DOMAIN, version: 1n }),
    ],
  });
}

export const onnxBackend: Backend = {
  target: TARGET.name,
  description: 'ONNX model: the pattern as standard ops in an ai.grat model-local function (runs on onnxruntime CPU/WebGPU)',
  runtimeSizes: true,
  emit(ir: PatternIR): EmitResult {
    try {
      // `?` sizes left to launch: one model for every size (lower_runtime.ts)
      const rt = ir.runtime && (ir.runtime.text || ir.runtime.dims.some((x) => x)) ? ir.runtime : null;
      const { model, lowered } = rt ? standaloneRuntimeModel(ir, rt) : standaloneModel(ir);
      return {
        files: [{ path: `${ir.name}.onnx`, contents: toBinary(ModelProtoSchema, model), role: 'model' }],
        diagnostics: [],
        info: {
          function: `${GRAT_DOMAIN}::${lowered.name}`,
          inputs: lowered.inputs,
          ...(rt ? { runtime: rt, sizesFrom: needsGridInput(rt) ? 'the grid input' : 'the sequence length' } : {}),
          buckets: lowered.buckets,
          computedPairsPerHead: lowered.computedPairs,
        },
      };
    } catch (e) {
      if (e instanceof WorkRefused) throw e; // a refusal, not a diagnostic: the command prints it as one line
      return { files: [], diagnostics: [diag('E0901', `onnx backend: ${(e as Error).message}`, null)], info: {} };
    }
  },
};

