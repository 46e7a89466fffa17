/**
 * Golden files of generated code: every example (examples/*.grat) × every target, compared with
 * test/golden/<example>/<target>/. A change to a template or to codegen is reviewed as the diff of
 * these files (`git diff test/golden`), in the commit that makes it; refresh them with
 *
 *   npx vitest run test/golden.test.ts -u
 *
 * and read the diff before committing. A file the backend no longer emits fails the test until
 * its golden copy is deleted (so nothing stale stays behind).
 *
 * Per example and target:
 *   emit.json          the emitted files (path, role, golden name), diagnostics and manifest info
 *   kernel*.cu|h|wgsl   the kernel files, the kernel name (it holds the spec hash) shortened to
 *                      `kernel` in the golden name only, so the files keep their names when a hash moves
 *   <pattern>.ts       WGSL's typed module, each embedded shader replaced by the name of its
 *                      .wgsl golden file (checked equal first)
 *   <pattern>.onnx.txt the ONNX model as text: graph, function nodes, constants with their shapes
 *                      and sha256 (small ones with values), and the model's sha256; a block of
 *                      nodes repeated but for names and constants is printed once (foldRepeats)
 * Files copied verbatim into every output (the CUDA package's pattern-independent .py files, the WebGPU runtime) are checked
 * equal across examples and kept once, in golden/copied/<target>/.
 *
 * Patterns with open sizes get small grids here (ragged where that is cheap), so the files stay
 * small; examples with fixed sizes run at their own grid. Checks of decisions and numbers stay in
 * the backends' own tests (cuda.emit, wgsl.codegen, onnx.lower); this file only pins the text.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/index.js';
import { TARGETS, type Target } from '../codegen/targets.js';
import { backendFor } from '../codegen/all.js';
import type { EmitResult } from '../codegen/backend.js';

const ROOT = join(import.meta.dirname, '..');
const GOLDEN = join(import.meta.dirname, 'golden');

/** Sizes for the examples that leave them open (`?`): small, most of them with ragged edge groups. */
const SIZES: Readonly<Record<string, { grid: number[]; text?: number }>> = {
  dit_grat_b: { grid: [16, 16], text: 16 },
  flux_grat_b: { grid: [40, 24] }, // 3 x 2 groups of 16, the last row and column ragged
  flux_grat_x: { grid: [48, 40] },
  hunyuan_grat_b: { grid: [6, 16, 20] }, // groups 4x8x8: ragged in t and w
  hunyuan_grat_x: { grid: [6, 16, 20] },
  sliding_window_1d: { grid: [1000] }, // 15 groups of 64 and one of 40
};

/** Files every output of a target holds unchanged (copies of project sources), kept once: by name, in any folder of the output. */
const COPIED = new Set(['gratc_webgpu_runtime.ts', '_build.py', '_op.py', '_api.py', '_plug.py', '_parallel.py', '_shard.py', '__main__.py']);
const base = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.grat')).map((f) => f.slice(0, -'.grat'.length)).sort();

const hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The golden name of an emitted file (its name without the folder): the kernel name (`grat_<pattern>_<hash>`) becomes `kernel`. */
function goldenName(path: string, kernel: unknown): string {
  const name = base(path);
  if (typeof kernel === 'string' && name.startsWith(kernel)) return `kernel${name.slice(kernel.length)}`;
  return name.endsWith('.onnx') ? `${name}.txt` : name;
}

// ---- ONNX as text ----

const ELEM: Record<number, string> = { 1: 'float', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 16: 'bfloat16' };
const elem = (t: number): string => ELEM[t] ?? `type${t}`;

function values(t: TensorProto): string | null {
  const count = t.dims.reduce((n, d) => n * Number(d), 1);
  if (count > 8) return null;
  const raw = t.rawData;
  if (raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
    if (t.dataType === 7) return [...new BigInt64Array(buf)].join(', ');
    if (t.dataType === 6) return [...new Int32Array(buf)].join(', ');
    if (t.dataType === 1) return [...new Float32Array(buf)].join(', ');
    return null;
  }
  const list = t.int64Data.length ? t.int64Data : t.int32Data.length ? t.int32Data : t.floatData.length ? t.floatData : t.doubleData;
  return list.length ? list.join(', ') : null;
}

function tensor(t: TensorProto): string {
  const v = values(t);
  const data = t.rawData.length > 0 ? t.rawData : new TextEncoder().encode(JSON.stringify([t.int64Data.map(String), t.int32Data, t.floatData, t.doubleData]));
  return `${elem(t.dataType)}[${t.dims.join(', ')}]${v !== null ? ` = [${v}]` : ` sha256 ${hex(data).slice(0, 16)}`}`;
}

function attribute(a: AttributeProto): string {
  const v = a.t ? tensor(a.t)
    : a.ints.length ? `[${a.ints.join(', ')}]`
      : a.floats.length ? `[${a.floats.join(', ')}]`
        : a.s.length ? JSON.stringify(new TextDecoder().decode(a.s))
          : a.type === 1 ? String(a.f) : String(a.i);
  return `${a.name}=${v}`;
}

const nodeLine = (n: NodeProto): string => `  ${n.output.join(', ')} = ${n.domain ? `${n.domain}::` : ''}${n.opType}(${n.input.join(', ')})${n.attribute.length ? ` {${n.attribute.map(attribute).join(', ')}}` : ''}`;

function valueLine(v: ValueInfoProto): string {
  const t = v.type?.value.case === 'tensorType' ? v.type.value.value : null;
  const dims = t?.shape?.dim.map((d) => (d.value.case === 'dimValue' ? String(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'));
  return `  ${v.name}: ${t ? elem(t.elemType) : '?'}${dims ? `[${dims.join(', ')}]` : ' (any shape)'}`;
}

/**
 * Lines that repeat the block just above them but for names (digits after a letter or `_`) and
 * constants' hashes are folded into one line carrying the sha256 of what it stands for, so a
 * lowering's per-chunk nodes read once per shape and any change still changes the file.
 */
export function foldRepeats(lines: readonly string[], minFolded = 8): string[] {
  const key = lines.map((l) => l.replace(/sha256 [0-9a-f]{16}/g, 'sha256').replace(/(?<=[A-Za-z_])\d+/g, '#'));
  const same = (a: number, b: number, p: number): boolean => {
    for (let j = 0; j < p; j++) if (key[a + j] !== key[b + j]) return false;
    return true;
  };
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    let best = { p: 0, n: 1 };
    for (let p = 1; p <= 64 && i + 2 * p <= lines.length; p++) {
      let n = 1;
      while (i + (n + 1) * p <= lines.length && same(i, i + n * p, p)) n++;
      if ((n - 1) * p > (best.n - 1) * best.p) best = { p, n };
    }
    if ((best.n - 1) * best.p < minFolded) { out.push(lines[i++]); continue; }
    const folded = lines.slice(i + best.p, i + best.n * best.p);
    out.push(...lines.slice(i, i + best.p), `  ... the ${best.p} lines above ${best.n - 1} more times, with other names and constants (sha256 ${hex(new TextEncoder().encode(folded.join('\n'))).slice(0, 16)})`);
    i += best.n * best.p;
  }
  return out;
}

/** A readable, deterministic dump of an emitted model: what a reviewer needs to see change. */
export function onnxText(bytes: Uint8Array): string {
  const m = fromBinary(ModelProtoSchema, bytes);
  const g = m.graph!;
  const out = [
    `model sha256 ${hex(bytes)} (${bytes.length} bytes)`,
    `ir_version ${m.irVersion}, producer ${m.producerName}, opsets ${m.opsetImport.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(' ')}`,
    `graph ${g.name}`, 'inputs', ...g.input.map(valueLine), 'outputs', ...g.output.map(valueLine),
    `initializers ${g.initializer.length}`, ...g.initializer.map((t) => `  ${t.name}: ${tensor(t)}`),
    'nodes', ...foldRepeats(g.node.map(nodeLine)),
  ];
  for (const f of m.functions) {
    out.push('', `function ${f.domain}::${f.name}(${f.input.join(', ')}) -> (${f.output.join(', ')})`, `opsets ${f.opsetImport.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(' ')}`, ...foldRepeats(f.node.map(nodeLine)));
  }
  return `${out.join('\n')}\n`;
}

// ---- the golden files ----

interface Emitted { readonly target: Target; readonly result: EmitResult; readonly kernel: unknown }

function emit(example: string, target: Target): Emitted {
  const text = readFileSync(join(ROOT, 'examples', `${example}.grat`), 'utf8');
  const checked = checkSource(text, { ...SIZES[example], defaultName: example });
  if (!checked.ir) throw new Error(`${example}: ${checked.diagnostics.map((d) => `${d.code} ${d.message}`).join('; ')} (give it sizes in SIZES)`);
  const result = backendFor(target)!.emit(checked.ir);
  return { target, result, kernel: result.info.kernel };
}

/** emit.json: the backend's answer without the files' contents. */
function summary(e: Emitted): string {
  const { target, result, kernel } = e;
  return `${JSON.stringify({
    files: result.files.map((f) => ({ path: f.path, role: f.role, golden: COPIED.has(base(f.path)) ? `../../copied/${target}/${base(f.path)}` : goldenName(f.path, kernel) })),
    diagnostics: result.diagnostics.map((d) => `${d.severity}[${d.code}]: ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`),
    info: result.info,
  }, null, 2)}\n`;
}

/** The text a file is pinned as: itself, an ONNX dump, or WGSL's module with its shaders named. */
function goldenText(e: Emitted, contents: string | Uint8Array, path: string): string {
  if (typeof contents !== 'string') return onnxText(contents);
  if (e.result.info.module !== path) return contents;
  let text = contents;
  for (const f of e.result.files.filter((x) => x.role === 'kernel')) {
    const embedded = JSON.stringify(f.contents);
    expect(text.split(embedded).length - 1, `${path} embeds ${f.path} once`).toBe(1);
    text = text.replace(embedded, JSON.stringify(`<golden ${goldenName(f.path, e.kernel)}>`));
  }
  return text;
}

const copies = new Map<string, string | Uint8Array>();

describe.each(examples)('%s', (example) => {
  it.each([...TARGETS])('%s', async (target) => {
    const e = emit(example, target);
    const dir = `golden/${example}/${target}`;
    await expect.soft(summary(e)).toMatchFileSnapshot(`${dir}/emit.json`);
    const expected = new Set(['emit.json']);
    for (const f of e.result.files) {
      if (COPIED.has(base(f.path))) {
        const first = copies.get(`${target}/${base(f.path)}`);
        if (first === undefined) {
          copies.set(`${target}/${base(f.path)}`, f.contents);
          await expect(f.contents).toMatchFileSnapshot(`golden/copied/${target}/${base(f.path)}`);
        } else expect(f.contents === first, `${f.path} is the same in every output`).toBe(true);
        continue;
      }
      const name = goldenName(f.path, e.kernel);
      expected.add(name);
      await expect.soft(goldenText(e, f.contents, f.path)).toMatchFileSnapshot(`${dir}/${name}`);
    }
    // nothing stale: every golden file of this example and target is one the backend emits now
    const have = existsSync(join(GOLDEN, example, target)) ? readdirSync(join(GOLDEN, example, target)) : [];
    expect(have.filter((f) => !expected.has(f)), `stale golden files in test/${dir} (delete them)`).toEqual([]);
  });
});

it('every golden folder is an example and a target', () => {
  const have = existsSync(GOLDEN) ? readdirSync(GOLDEN).filter((d) => d !== 'copied') : [];
  expect(have.filter((d) => !examples.includes(d))).toEqual([]);
  for (const d of have) expect(readdirSync(join(GOLDEN, d)).filter((t) => !(TARGETS as readonly string[]).includes(t))).toEqual([]);
});
