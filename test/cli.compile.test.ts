/**
 * `gratc compile`: target availability, and (with a stand-in backend registered in-process)
 * the output folder, the manifest, write-only-if-changed and refusing paths outside --out.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, EmittedFile } from '../codegen/backend.js';
import { backendFor, knownBackends, registerBackend } from '../codegen/registry.js';
import { safeRelativePath } from '../cli/commands/compile.js';
import { FLUX, gratc, gratcIn, MALFORMED, put, SYMBOLIC, tempDir } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
  put(dir, 'flux.grat', FLUX);
  put(dir, 'bad.grat', MALFORMED);
});

/** A backend emitting whatever the test says (the registry is per test file: vitest isolates files). */
let files: EmittedFile[] = [];
const fake: Backend = {
  target: 'onnx',
  description: 'test stand-in',
  emit: (ir) => ({ files, diagnostics: [], info: { kernel: `attn_${ir.name}` } }),
};

const sha = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('compile: targets', () => {
  it('a target with no backend in this build exits 2 with a clear message', async () => {
    await import('../codegen/all.js'); // what the built CLI registers
    const missing = (['cuda', 'wgsl', 'onnx'] as const).find((t) => backendFor(t) === undefined);
    if (missing === undefined) return; // every backend has landed
    const r = gratc(['compile', 'flux.grat', '--target', missing, '--out', 'out'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^gratc: error: target '${missing}' is not available in this build`, 'm'));
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});

describe('compile with a real backend (subprocess)', () => {
  it('the first backend of this build writes its files and a manifest that lists them', async () => {
    await import('../codegen/all.js');
    const target = knownBackends().map((b) => b.target).sort()[0];
    if (target === undefined) return; // no backend has landed yet
    const r = gratc(['compile', 'flux.grat', '--target', target, '--out', 'real', '--json'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const m = JSON.parse(readFileSync(join(dir, 'real', 'manifest.json'), 'utf8'));
    expect(m.target).toBe(target);
    expect(m.files.map((f: { path: string }) => f.path)).toEqual(j.files.map((f: { path: string }) => f.path));
    for (const f of m.files) expect(sha(readFileSync(join(dir, 'real', f.path)))).toBe(f.sha256);
    // deterministic: a second run changes nothing
    const again = JSON.parse(gratc(['compile', 'flux.grat', '--target', target, '--out', 'real', '--json'], dir).stdout);
    expect(again.manifest.status).toBe('unchanged');
    expect(again.files.every((f: { status: string }) => f.status === 'unchanged')).toBe(true);
  });
});

describe('compile: sizes taken at launch (cuda)', () => {
  it('cuda without --grid compiles a ? pattern: the manifest names the run-time sizes and their limits; bound sizes specialise; wgsl and onnx take them at launch too', async () => {
    await import('../codegen/all.js');
    put(dir, 'sym.grat', `pattern sym\n${SYMBOLIC}`);
    const r = await gratcIn(['compile', 'sym.grat', '--target', 'cuda', '--out', 'rt'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sizes taken at launch: h <= 4,096, w <= 4,096, text count <= 65,536 \(at most 16,842,752 tokens, 65,536 query groups\)$/m);
    const m = JSON.parse(readFileSync(join(dir, 'rt', 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ grid: [null, null], group: [16, 16], text: { count: null, place: 'before' }, stats: null });
    const limits = { dims: [true, true], text: true, max: { dims: [4096, 4096], text: 65536, tokens: 2 ** 24 + 65536, groups: 65536 } };
    expect(m.runtime).toEqual(limits);
    expect(JSON.parse((await gratcIn(['compile', 'sym.grat', '--target', 'cuda', '--out', 'rt', '--json'], dir)).stdout).runtime).toEqual(limits);
    expect(m.info.runtime).toEqual(limits);
    expect(m.info.spec.runtime).toEqual(limits); // the spec JSON the kernels' _spec() returns
    const cu = readFileSync(join(dir, 'rt', m.files.find((f: { path: string }) => f.path.endsWith('_sm90a.cu')).path), 'utf8');
    expect(cu).toContain('Geom geom;');
    expect(cu).not.toMatch(/constexpr int (TOKENS|QUERY_GROUPS|TEXT_TILES) =/);

    const b = await gratcIn(['compile', 'sym.grat', '--target', 'cuda', '--grid', '64x70', '--text', '5', '--out', 'fixed', '--json'], dir);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).runtime).toBeNull();
    const mb = JSON.parse(readFileSync(join(dir, 'fixed', 'manifest.json'), 'utf8'));
    expect(mb).toMatchObject({ grid: [64, 70], text: { count: 5 }, runtime: null });
    expect(mb.info.kernel).not.toBe(m.info.kernel);

    // wgsl and onnx take them at launch too (test/webgpu.runtime.test.ts, test/onnx.runtime.test.ts run them)
    for (const t of ['wgsl', 'onnx']) {
      const w = await gratcIn(['compile', 'sym.grat', '--target', t, '--out', t], dir);
      expect(w.code, w.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, t, 'manifest.json'), 'utf8')).runtime).toEqual(limits);
    }
  }, 60_000);
});

describe('compile with a registered backend', () => {
  beforeAll(async () => {
    // load the real backends first (as the CLI would), so the stand-in replaces rather than precedes them
    await import('../codegen/all.js');
    registerBackend(fake);
  });

  it('writes the files and a manifest, then rewrites only what changed', async () => {
    files = [
      { path: 'kernels/attn.txt', contents: 'hello\n', role: 'kernel' },
      { path: 'model.bin', contents: new Uint8Array([1, 2, 3]), role: 'model' },
    ];
    const r = await gratcIn(['compile', 'flux.grat', '--target', 'onnx', '--out', 'build/x/'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      'wrote     build/x/kernels/attn.txt (kernel, 6 bytes)',
      'wrote     build/x/model.bin (model, 3 bytes)',
      'wrote     build/x/manifest.json', ''].join('\n'));
    const out = join(dir, 'build', 'x');
    expect(readFileSync(join(out, 'kernels', 'attn.txt'), 'utf8')).toBe('hello\n');
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(Object.keys(m)).toEqual(['gratc', 'pattern', 'target', 'grid', 'group', 'text', 'runtime', 'order', 'headDim', 'dtype', 'files', 'info', 'stats']);
    expect(m).toMatchObject({
      pattern: 'flux_grat_b', target: 'onnx', grid: [64, 64], group: [16, 16], text: { count: 512, place: 'before' },
      order: 'raster', headDim: 128, dtype: 'bf16', info: { kernel: 'attn_flux_grat_b' },
      files: [
        { path: 'kernels/attn.txt', role: 'kernel', bytes: 6, sha256: sha('hello\n') },
        { path: 'model.bin', role: 'model', bytes: 3, sha256: sha(new Uint8Array([1, 2, 3])) },
      ],
    });
    expect(m.stats.visiblePairs).toBe(11010048);

    // same input again: nothing is rewritten (mtimes kept)
    const old = new Date(2000, 0, 1);
    for (const f of ['kernels/attn.txt', 'model.bin', 'manifest.json']) utimesSync(join(out, f), old, old);
    const again = await gratcIn(['compile', 'flux.grat', '--target', 'onnx', '--out', 'build/x', '--json'], dir);
    const j = JSON.parse(again.stdout);
    expect(j.files.map((f: { status: string }) => f.status)).toEqual(['unchanged', 'unchanged']);
    expect(j.manifest).toEqual({ path: 'build/x/manifest.json', status: 'unchanged' });
    expect(statSync(join(out, 'model.bin')).mtime.getTime()).toBe(old.getTime());

    // one file changes: it and the manifest are rewritten, the other is not
    files = [files[0], { ...files[1], contents: new Uint8Array([9]) }];
    const third = JSON.parse((await gratcIn(['compile', 'flux.grat', '--target', 'onnx', '--out', 'build/x', '--json'], dir)).stdout);
    expect(third).toMatchObject({ pattern: 'flux_grat_b', target: 'onnx', out: 'build/x' });
    expect(third.files.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([['kernels/attn.txt', 'unchanged'], ['model.bin', 'written']]);
    expect(third.manifest.status).toBe('written');
    expect(statSync(join(out, 'kernels', 'attn.txt')).mtime.getTime()).toBe(old.getTime());
  });

  it.each(['../evil.txt', 'a/../../evil.txt', '/etc/evil', 'a\\b', '', 'manifest.json', './'])('refuses the emitted path %j and writes nothing', async (p) => {
    files = [{ path: 'fine.txt', contents: 'x', role: 'kernel' }, { path: p, contents: 'x', role: 'kernel' }];
    const r = await gratcIn(['compile', 'flux.grat', '--target', 'onnx', '--out', 'refused'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^gratc: error: the backend emitted '.*', which .*; nothing was written\n$/);
    expect(existsSync(join(dir, 'refused'))).toBe(false);
  });

  it('normalizes harmless path forms', () => {
    expect(safeRelativePath('./a//b.txt', '/tmp/out')).toBe('a/b.txt');
  });

  it('an input with errors exits 1 and writes nothing', async () => {
    const r = await gratcIn(['compile', 'bad.grat', '--target', 'onnx', '--out', 'never'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bad\.grat:4:15: error\[E0401\]/m);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('backend errors are diagnostics: exit 1, nothing written', async () => {
    registerBackend({ ...fake, emit: () => ({ files: [], diagnostics: [{ severity: 'error', code: 'E0901', message: 'head_dim 128 is not supported', span: null }], info: {} }) });
    const r = await gratcIn(['compile', 'flux.grat', '--target', 'onnx', '--out', 'never2'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('flux.grat: error[E0901]: head_dim 128 is not supported');
    expect(existsSync(join(dir, 'never2'))).toBe(false);
    registerBackend(fake);
  });
});
