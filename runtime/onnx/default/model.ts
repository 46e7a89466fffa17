/**
 * The embedded default model: a small DiT-like transformer (SD3/Flux-style joint attention over
 * text tokens placed before the image tokens of a 2-D grid), built here as an ONNX graph with
 * weights from a seeded PRNG, so every gratc produces the same bytes without shipping a file.
 *
 *   text [1, T, C], image [1, H·W, C] → concat → L × (LN → fused QKV → heads split by
 *   Reshape/Transpose → MatMul·scale → Softmax → MatMul → merge → proj, residual; LN → MLP (SiLU),
 *   residual) → image tokens [1, H·W, C]
 *
 * The attention is written the way PyTorch's exporters write it, so `gratc patch` finds it the
 * same way it finds real models' attention.
 */
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { DT, node, tensorF32, tensorI64, valueInfo } from '../../../codegen/onnx/tensor.js';
import { examplePath } from '../../paths.js';
import { mulberry32 } from '../../random.js';

export interface DefaultModelConfig {
  readonly grid: readonly [number, number];
  readonly text: number;
  readonly channels: number;
  readonly heads: number;
  readonly layers: number;
  readonly seed: number;
}

export const DEFAULT_CONFIG: DefaultModelConfig = { grid: [64, 64], text: 64, channels: 64, heads: 2, layers: 2, seed: 0 };

export const DEFAULT_OPSET = 17;

/** Deterministic normal samples (mulberry32 + Box–Muller). */
export function gaussian(seed: number): () => number {
  const r = mulberry32(seed);
  // (0, 1): half a step up, so log() never sees 0 (exact: both terms are multiples of 2^-33)
  const u = (): number => r() + 0.5 / 4294967296;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function buildDefaultModel(cfg: DefaultModelConfig = DEFAULT_CONFIG): ModelProto {
  const { text: T, channels: C, heads: H, layers } = cfg;
  const M = cfg.grid[0] * cfg.grid[1], N = T + M, D = C / H;
  if (!Number.isInteger(D)) throw new RangeError(`channels ${C} is not a multiple of heads ${H}`);
  const rand = gaussian(cfg.seed);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const weight = (name: string, dims: number[], std: number, mean = 0): string => {
    const n = dims.reduce((a, b) => a * b, 1);
    inits.push(tensorF32(name, dims, Float32Array.from({ length: n }, () => mean + std * rand())));
    return name;
  };
  const i64 = (name: string, values: number[], dims = [values.length]): string => { inits.push(tensorI64(name, dims, values)); return name; };
  const f32 = (name: string, v: number): string => { inits.push(tensorF32(name, [], [v])); return name; };
  const op = (type: string, inputs: string[], out: string, attrs: Parameters<typeof node>[3] = {}): string => {
    nodes.push(node(type, inputs, [out], attrs, { name: `/${out}` }));
    return out;
  };

  i64('shape_qkv', [1, N, 3, H, D]);
  i64('shape_merge', [1, N, C]);
  i64('idx_q', [0], []); i64('idx_k', [1], []); i64('idx_v', [2], []);
  f32('scale', 1 / Math.sqrt(D));
  let x = op('Concat', ['text', 'image'], 'tokens', { axis: 1 });
  for (let l = 0; l < layers; l++) {
    const p = `blocks.${l}`;
    const ln = (name: string, input: string): string =>
      op('LayerNormalization', [input, weight(`${p}.${name}.weight`, [C], 0.05, 1), weight(`${p}.${name}.bias`, [C], 0.05)], `${p}.${name}`, { axis: -1, epsilon: 1e-5 });
    // attention
    const h = ln('norm1', x);
    const qkv = op('Add', [op('MatMul', [h, weight(`${p}.attn.qkv.weight`, [C, 3 * C], 1 / Math.sqrt(C))], `${p}.attn.qkv.mm`), weight(`${p}.attn.qkv.bias`, [3 * C], 0.02)], `${p}.attn.qkv`);
    const heads = op('Transpose', [op('Reshape', [qkv, 'shape_qkv'], `${p}.attn.qkv.split`)], `${p}.attn.qkv.heads`, { perm: [2, 0, 3, 1, 4] });
    const q = op('Gather', [heads, 'idx_q'], `${p}.attn.q`, { axis: 0 });
    const k = op('Gather', [heads, 'idx_k'], `${p}.attn.k`, { axis: 0 });
    const v = op('Gather', [heads, 'idx_v'], `${p}.attn.v`, { axis: 0 });
    const s = op('Mul', [op('MatMul', [q, op('Transpose', [k], `${p}.attn.kt`, { perm: [0, 1, 3, 2] })], `${p}.attn.qk`), 'scale'], `${p}.attn.scores`);
    const o = op('MatMul', [op('Softmax', [s], `${p}.attn.probs`, { axis: -1 }), v], `${p}.attn.out`);
    const merged = op('Reshape', [op('Transpose', [o], `${p}.attn.out.bnhd`, { perm: [0, 2, 1, 3] }), 'shape_merge'], `${p}.attn.merged`);
    const proj = op('Add', [op('MatMul', [merged, weight(`${p}.attn.proj.weight`, [C, C], 1 / Math.sqrt(C))], `${p}.attn.proj.mm`), weight(`${p}.attn.proj.bias`, [C], 0.02)], `${p}.attn.proj`);
    x = op('Add', [x, proj], `${p}.res1`);
    // MLP with SiLU
    const h2 = ln('norm2', x);
    const up = op('Add', [op('MatMul', [h2, weight(`${p}.mlp.fc1.weight`, [C, 4 * C], 1 / Math.sqrt(C))], `${p}.mlp.fc1.mm`), weight(`${p}.mlp.fc1.bias`, [4 * C], 0.02)], `${p}.mlp.fc1`);
    const act = op('Mul', [up, op('Sigmoid', [up], `${p}.mlp.sigmoid`)], `${p}.mlp.silu`);
    const down = op('Add', [op('MatMul', [act, weight(`${p}.mlp.fc2.weight`, [4 * C, C], 1 / Math.sqrt(4 * C))], `${p}.mlp.fc2.mm`), weight(`${p}.mlp.fc2.bias`, [C], 0.02)], `${p}.mlp.fc2`);
    x = op('Add', [x, down], `${p}.res2`);
  }
  op('Slice', [x, i64('slice_start', [T]), i64('slice_end', [N]), i64('slice_axis', [1])], 'out');
  nodes[nodes.length - 1].output[0] = 'image_out';
  nodes[nodes.length - 1].name = '/image_out';

  const graph = create(GraphProtoSchema, {
    name: 'gratc_default_dit',
    node: nodes,
    initializer: inits,
    input: [valueInfo('text', DT.FLOAT, [1, T, C]), valueInfo('image', DT.FLOAT, [1, M, C])],
    output: [valueInfo('image_out', DT.FLOAT, [1, M, C])],
  });
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'gratc',
    docString: `gratc's embedded default model: a ${layers}-block DiT-like transformer, joint attention over ${T} text tokens before a ${cfg.grid[0]}x${cfg.grid[1]} image grid; ${C} channels, ${H} heads; weights from seed ${cfg.seed}`,
    graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(DEFAULT_OPSET) })],
    metadataProps: [create(StringStringEntryProtoSchema, { key: 'gratc.default', value: JSON.stringify(cfg) })],
  });
}

/** Deterministic inputs for the default model. */
export function defaultInputs(cfg: DefaultModelConfig = DEFAULT_CONFIG, seed = 1): { text: Float32Array; image: Float32Array } {
  const rand = gaussian(seed);
  const M = cfg.grid[0] * cfg.grid[1];
  return {
    text: Float32Array.from({ length: cfg.text * cfg.channels }, rand),
    image: Float32Array.from({ length: M * cfg.channels }, rand),
  };
}

/** The example pattern the demo patches the default model with (GRAT-B, 8×8 groups, 3×3 neighbours). */
export const DEFAULT_PATTERN = readFileSync(examplePath('dit_grat_b.grat'), 'utf8');
