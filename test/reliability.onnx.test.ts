/**
 * `gratc patch` on hostile models (test/support/hostile_onnx.ts): truncated and corrupt files,
 * length bombs, missing/wrong/future opsets, cycles, duplicate writers, dangling inputs, missing,
 * short, escaping or malformed external data, names that collide with gratc's own (a decoy
 * ai.grat function with our function's name, tensors named like our new ones, ai.grat imported at
 * another version), hostile node names, and a model whose external data file is over 2 GB
 * (sparse). Each: exit 1 with one line (or exit 0 and a correct model), the input files untouched,
 * nothing left behind. Then random truncations and byte flips of the fixture (fast-check).
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, ftruncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { loadModel } from '../runtime/onnx/model.js';
import { patchModel } from '../runtime/onnx/patch.js';
import { maxAbsDiff, runModel } from '../runtime/onnx/run.js';
import type { NdArray } from '../runtime/onnx/npy.js';
import { gratcIn } from './support/cli.js';
import { decoyCase, fixtureBytes, fixtureModel, hostileCases, PATTERN, type HostileCase } from './support/hostile_onnx.js';

const root = mkdtempSync(join(tmpdir(), 'gratc-hostile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterAll(() => console.log(`reliability figures (hostile ONNX models): ${JSON.stringify({ ...COUNTS, fuzzExit0: OUTCOMES[0], fuzzExit1: OUTCOMES[1] })}`));

/** Counted for docs/reliability.md (printed at the end). */
export const COUNTS = { named: 0, fuzzed: 0 };
const FUZZ_RUNS = 80;
/** Fuzz runs by exit code. */
const OUTCOMES = [0, 0];

let n = 0;
function materialize(c: HostileCase): string {
  const dir = join(root, `case${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'p.grat'), PATTERN);
  for (const [name, f] of Object.entries(c.files)) {
    if (f instanceof Uint8Array) writeFileSync(join(dir, name), f);
    else { const fd = openSync(join(dir, name), 'w'); ftruncateSync(fd, f.sparse); closeSync(fd); }
  }
  return dir;
}

/** Name → sha256 of every small file; size only for big (sparse) ones. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    const b = statSync(p).size < 64 * 2 ** 20 ? readFileSync(p) : null;
    out[f] = b ? createHash('sha256').update(b).digest('hex') : 'big';
  }
  return out;
}

const X: NdArray = { dtype: 'float32', shape: [1, 72, 32], data: Float32Array.from({ length: 72 * 32 }, (_, i) => Math.sin(i * 0.37)) };
let cleanY: NdArray | null = null;
async function cleanOutput(): Promise<NdArray> {
  if (!cleanY) {
    const r = patchModel(fixtureModel(), { source: PATTERN });
    cleanY = (await runModel(toBinary(ModelProtoSchema, r.model), { x: X })).y;
  }
  return cleanY;
}

/** Runs `gratc patch` on a case and checks the contract. */
async function patchCase(c: HostileCase, opts: { runOutput?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = materialize(c);
  const before = snapshot(dir);
  const r = await gratcIn(['patch', c.model, '--pattern', 'p.grat', '--out', 'patched.onnx'], dir);
  expect(r.stderr, `${c.name}: no internal error`).not.toMatch(/internal error/);
  expect([0, 1], `${c.name}: exit code (stderr: ${r.stderr})`).toContain(r.code);
  const after = snapshot(dir);
  if (r.code !== 0) {
    // one line, nothing written, inputs untouched
    expect(r.stderr.trimEnd().split('\n'), `${c.name}: ${r.stderr}`).toHaveLength(1);
    expect(r.stderr).toMatch(/^gratc: error: /);
    expect(after, `${c.name}: nothing left behind, input untouched`).toEqual(before);
  } else {
    const { 'patched.onnx': patched, ...rest } = after;
    expect(patched, c.name).toBeDefined();
    expect(rest, `${c.name}: input untouched, no temp files`).toEqual(before);
    const loaded = await loadModel(join(dir, 'patched.onnx'));
    expect(loaded.model.functions.filter((f) => f.domain === 'ai.grat').length, c.name).toBeGreaterThanOrEqual(1);
    if (opts.runOutput) {
      const y = (await runModel(join(dir, 'patched.onnx'), { x: X })).y;
      expect(maxAbsDiff(y, await cleanOutput()), `${c.name}: the patched model computes the pattern`).toBeLessThan(1e-5);
    }
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

describe('reliability: gratc patch on hostile models', () => {
  const cases = hostileCases();
  for (const c of cases) {
    it(`${c.name} → ${c.expect}`, async () => {
      const r = await patchCase(c, { runOutput: c.expect === 'ok' && !/sparse/.test(c.name) });
      COUNTS.named++;
      if (c.expect === 'error') {
        expect(r.code, `${c.name}: ${r.stderr}`).toBe(1);
        if (c.message) expect(r.stderr, c.name).toMatch(c.message);
      } else expect(r.code, `${c.name}: ${r.stderr}`).toBe(0);
      // names from the model never drive the terminal (no raw ESC / CR / bidi override)
      expect(r.stdout + r.stderr, c.name).not.toMatch(/[\u001b\r\u202e]/);
      if (/hostile node names/.test(c.name)) expect(r.stdout).toMatch(/\\u000a\\u001b\[2J/);
    });
  }

  it('a decoy ai.grat function that already has our function\'s name: refused (never called)', async () => {
    const ours = patchModel(fixtureModel(), { source: PATTERN }).functions[0].name;
    const r = await patchCase(decoyCase(ours));
    COUNTS.named++;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already defines a function ai\.grat::/);
  });

  it('the same output path twice, and --out equal to the input: refused or replaced, never half-written', async () => {
    const dir = materialize({ name: 'twice', files: { 'm.onnx': fixtureBytes() }, model: 'm.onnx', expect: 'ok' });
    const a = await gratcIn(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', 'o.onnx'], dir);
    const b = await gratcIn(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', 'o.onnx'], dir);
    expect([a.code, b.code]).toEqual([0, 0]);
    const same = await gratcIn(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', './m.onnx'], dir);
    expect(same.code).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'o.onnx', 'p.grat']);
    expect(Buffer.from(readFileSync(join(dir, 'm.onnx'))).equals(Buffer.from(fixtureBytes()))).toBe(true);
    // patching the patched model: its attention is gone, so nothing to do (exit 1, nothing written)
    const again = await gratcIn(['patch', 'o.onnx', '--pattern', 'p.grat', '--out', 'oo.onnx'], dir);
    expect(again.code).toBe(1);
    expect(existsSync(join(dir, 'oo.onnx'))).toBe(false);
  });

  it(`random truncations and byte flips of a real model (${FUZZ_RUNS} runs)`, async () => {
    const good = fixtureBytes();
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: good.length - 1 }) }),
      fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }) }),
      fc.record({ kind: fc.constant('splice' as const), at: fc.nat({ max: good.length - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
    );
    await fc.assert(fc.asyncProperty(mutation, async (mu) => {
      let bytes: Uint8Array;
      if (mu.kind === 'truncate') bytes = good.subarray(0, mu.at);
      else if (mu.kind === 'flip') { bytes = Uint8Array.from(good); for (const [i, x] of mu.flips) bytes[i] ^= x; }
      else bytes = Uint8Array.from([...good.subarray(0, mu.at), ...mu.bytes, ...good.subarray(mu.at)]);
      COUNTS.fuzzed++;
      // what the library makes of the same bytes decides the exit code: 0 exactly when it patches
      const probe = join(root, `probe${n}.onnx`);
      writeFileSync(probe, bytes);
      let expected = 1;
      try {
        if (patchModel((await loadModel(probe)).model, { source: PATTERN }).patched > 0) expected = 0;
      } catch { /* refused: exit 1 */ }
      rmSync(probe);
      const r = await patchCase({ name: `fuzz ${mu.kind}`, files: { 'm.onnx': bytes }, model: 'm.onnx', expect: 'error' });
      expect(r.code, `fuzz ${mu.kind}: ${r.stderr}`).toBe(expected);
      OUTCOMES[expected]++;
    }), { numRuns: FUZZ_RUNS });
    // the mutations reach the refusals (a run where every mutant patched would test little)
    expect(OUTCOMES[1]).toBeGreaterThan(0);
  }, 120_000);
});
