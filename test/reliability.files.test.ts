/**
 * Files every command reads and writes (runtime/files.ts), through the built CLI as a subprocess:
 *
 *  - external data that leaves the model's folder through a symlink (a file or a folder link),
 *    a FIFO, a device: refused before a byte is read or copied; `gratc run` refuses them too;
 *  - `--out` that is the input by another path (a `d -> .` folder link, a hard link), or the
 *    pattern: refused, the input unchanged;
 *  - two models with the same external data file name patched into one folder: each output has
 *    its own `OUT.data` and computes with its own weights (checked against an in-memory patch);
 *    every file written is listed (text and --json); a failing patch replaces nothing; a data
 *    file beside no model of that name is never overwritten; `location: sub/w.bin` into another
 *    folder works;
 *  - outputs onto a FIFO, a symlink, a device node, the source file: refused, left as they were;
 *    compile with a FIFO named like its manifest does not hang;
 *  - non-regular and oversized inputs (FIFO, /dev/null, a 100 MB sparse .grat, a 3 GiB sparse
 *    model or .npy), `--threads 100000`: one line, at once.
 *
 * As root (CI) nothing here depends on permissions. Device nodes are made with mknod in a temp
 * folder (root only; skipped otherwise), never the system's /dev/full. Every subprocess has a
 * timeout, so a regression that hangs (a FIFO read) fails instead of stalling the suite.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto } from 'onnx-buf';
import { spawnSync } from 'node:child_process';
import {
  closeSync, existsSync, ftruncateSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outputs } from '../runtime/files.js';
import { parseNpy, toNpy, type NdArray } from '../runtime/onnx/npy.js';
import { patchModel } from '../runtime/onnx/patch.js';
import { maxAbsDiff, runModel } from '../runtime/onnx/run.js';
import { gratcIn, MAIN } from './support/cli.js';
import { fixtureBytes, fixtureModel, PATTERN } from './support/hostile_onnx.js';

const root = mkdtempSync(join(tmpdir(), 'gratc-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterAll(() => console.log(`reliability figures (files): ${JSON.stringify(COUNTS)}`));

/** Counted for docs/reliability.md (printed at the end). */
export const COUNTS = { cases: 0 };

interface Ran { code: number | null; stdout: string; stderr: string; timedOut: boolean }

/**
 * The built gratc as a subprocess in `cwd`, killed after `timeoutMs`: for what used to hang or
 * abort (a FIFO read, a 100 MB .grat, 100,000 threads), so a regression fails instead of
 * stalling or crashing the test worker.
 */
function sub(cwd: string, args: readonly string[], timeoutMs = 30_000): Ran {
  COUNTS.cases++;
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, timedOut: r.error !== undefined || r.signal !== null };
}

/** gratc in-process (the same code, without a process start per case). */
async function gratc(cwd: string, args: readonly string[]): Promise<Ran> {
  COUNTS.cases++;
  return { ...(await gratcIn(args, cwd)), timedOut: false };
}

/** One line on stderr, exit `code`, matching `message`. */
function refused(r: Ran, code: number, message: RegExp): void {
  expect(r.timedOut, 'finished (no hang)').toBe(false);
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^gratc: error: /);
  expect(r.stderr).toMatch(message);
}

let n = 0;
const folder = (name = 'case'): string => {
  const d = join(root, `${name}${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** Every entry of a folder (recursively), with sizes and link targets: what "left as it was" means. */
function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, pre: string): void => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f), s = lstatSync(p);
      if (s.isSymbolicLink()) out[pre + f] = `-> ${readlinkSync(p)}`;
      else if (s.isDirectory()) { out[pre + f] = 'dir'; walk(p, `${pre}${f}/`); }
      else if (s.isFile()) out[pre + f] = s.size < 2 ** 20 ? readFileSync(p).toString('base64') : `${s.size} bytes`;
      else out[pre + f] = s.isFIFO() ? 'fifo' : s.isCharacterDevice() ? 'chardev' : 'other';
    }
  };
  walk(dir, '');
  return out;
}

const mkfifo = (p: string): void => {
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo ${p} failed`);
};

/** A character device node in a temp folder (root only): 1,7 is what /dev/full is. */
function mkdev(p: string): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('mknod', [p, 'c', '1', '7']).status === 0;
}

const sparse = (p: string, size: number): void => { const fd = openSync(p, 'w'); ftruncateSync(fd, size); closeSync(fd); };

// ---- models ----

/** The fixture's qkv weight (32x96 float, 12288 bytes): the tensor moved to external data. */
const W = 'onnx::MatMul_61';
const X: NdArray = { dtype: 'float32', shape: [1, 72, 32], data: Float32Array.from({ length: 72 * 32 }, () => Math.random() * 2 - 1) };

/** The fixture with W's values scaled by `k` (other weights: other outputs). */
function scaled(k: number): ModelProto {
  const m = fixtureModel();
  return {
    ...m,
    graph: {
      ...m.graph!,
      initializer: m.graph!.initializer.map((t) => {
        if (t.name !== W) return t;
        const f = new Float32Array(t.rawData.slice().buffer).map((x) => x * k);
        return { ...t, rawData: new Uint8Array(f.buffer) };
      }),
    },
  };
}

/** W's payload, and the model with W moved to external data at `location`, at `offset` in that file. */
function externalized(m: ModelProto, location: string, offset = 0): { model: Uint8Array; data: Uint8Array } {
  const w = m.graph!.initializer.find((t) => t.name === W)!;
  const entries = { location, offset: String(offset), length: String(w.rawData.length) };
  const model: ModelProto = {
    ...m,
    graph: {
      ...m.graph!,
      initializer: m.graph!.initializer.map((t) => (t.name !== W ? t : {
        ...t, rawData: new Uint8Array(0), dataLocation: 1,
        externalData: Object.entries(entries).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
      })),
    },
  };
  return { model: toBinary(ModelProtoSchema, model), data: w.rawData };
}

/** What the patched model must compute: patched in memory, weights inline, run by onnxruntime. */
async function reference(m: ModelProto): Promise<NdArray> {
  return (await runModel(toBinary(ModelProtoSchema, patchModel(m, { source: PATTERN }).model), { x: X })).y;
}

/** `gratc run` of a model on X; its output read back. */
async function runOutput(cwd: string, model: string): Promise<NdArray> {
  writeFileSync(join(cwd, 'x.npy'), toNpy(X));
  const r = await gratc(cwd, ['run', model, '--input', 'x=x.npy', '--output', 'y.npy']);
  expect(r.code, r.stderr).toBe(0);
  return parseNpy(readFileSync(join(cwd, 'y.npy')), 'y.npy');
}

const patchArgs = (model: string, out: string, ...more: string[]): string[] => ['patch', model, '--pattern', 'p.grat', '--out', out, ...more];

describe('reliability: external data is a regular file inside the model\'s folder', () => {
  /** A model folder `m/` whose external data `location` is whatever `arrange` makes of it, and a secret beside it. */
  function setup(location: string, arrange: (modelDir: string, secretDir: string, data: Uint8Array) => void): string {
    const base = folder('ext');
    const m = join(base, 'm'), secret = join(base, 'secret'), out = join(base, 'out');
    for (const d of [m, secret, out]) mkdirSync(d);
    const { model, data } = externalized(fixtureModel(), location);
    writeFileSync(join(m, 'model.onnx'), model);
    writeFileSync(join(base, 'p.grat'), PATTERN);
    // a secret exactly as long as the tensor, so only the location rule stops it
    writeFileSync(join(secret, 'key.txt'), Buffer.alloc(data.length, 'S'));
    arrange(m, secret, data);
    return base;
  }

  const cases: [string, string, (m: string, s: string, data: Uint8Array) => void, RegExp][] = [
    ['a file symlink to ../secret/key.txt', 'w.bin', (m) => symlinkSync('../secret/key.txt', join(m, 'w.bin')), /outside the model's folder/],
    ['a folder symlink d -> ../secret, location d/key.txt', 'd/key.txt', (m) => symlinkSync('../secret', join(m, 'd')), /outside the model's folder/],
    ['an absolute symlink to the secret', 'w.bin', (m, s) => symlinkSync(join(s, 'key.txt'), join(m, 'w.bin')), /outside the model's folder/],
    ['a FIFO', 'w.bin', (m) => mkfifo(join(m, 'w.bin')), /is a FIFO, not a regular file/],
    ['a symlink to a FIFO inside the folder', 'w.bin', (m) => { mkfifo(join(m, 'f')); symlinkSync('f', join(m, 'w.bin')); }, /is a FIFO, not a regular file/],
    ['a symlink to /dev/null', 'w.bin', (m) => symlinkSync('/dev/null', join(m, 'w.bin')), /outside the model's folder|not a regular file/],
    ['a folder', 'w.bin', (m) => mkdirSync(join(m, 'w.bin')), /is a directory/],
  ];
  for (const [name, location, arrange, message] of cases) {
    it(`${name}: patch (into another folder and beside it) and run refuse it, nothing copied`, async () => {
      const base = setup(location, arrange);
      const before = listing(base);
      refused(await gratc(base, patchArgs('m/model.onnx', 'out/p.onnx')), 1, message);
      refused(await gratc(base, patchArgs('m/model.onnx', 'm/p.onnx')), 1, message);
      writeFileSync(join(base, 'x.npy'), toNpy(X));
      refused(await gratc(base, ['run', 'm/model.onnx', '--input', 'x=x.npy']), 1, message);
      rmSync(join(base, 'x.npy'));
      expect(listing(base)).toEqual(before);
    });
  }

  it('a symlink to a regular file inside the folder is followed (and its bytes used)', async () => {
    const base = setup('w.bin', (m, _s, data) => { mkdirSync(join(m, 'real')); writeFileSync(join(m, 'real', 'w'), data); symlinkSync('real/w', join(m, 'w.bin')); });
    const r = await gratc(base, patchArgs('m/model.onnx', 'out/p.onnx'));
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(base, 'out', 'p.onnx.data')).isFile()).toBe(true);
    expect(maxAbsDiff(await runOutput(base, 'out/p.onnx'), await reference(fixtureModel()))).toBeLessThan(1e-5);
  });
});

describe('reliability: --out is never an input, by any path', () => {
  function setup(): string {
    const d = folder('io');
    writeFileSync(join(d, 'm.onnx'), fixtureBytes());
    writeFileSync(join(d, 'p.grat'), PATTERN);
    return d;
  }

  it('through a folder symlink d -> . (the issue\'s case), a hard link, a symlink to the folder above, the pattern', async () => {
    const d = setup();
    symlinkSync('.', join(d, 'd'));
    linkSync(join(d, 'm.onnx'), join(d, 'hard.onnx'));
    mkdirSync(join(d, 'sub'));
    symlinkSync('..', join(d, 'sub', 'up'));
    const before = listing(d);
    refused(await gratc(d, patchArgs('m.onnx', 'd/m.onnx')), 2, /cannot write 'd\/m\.onnx': it is the input 'm\.onnx' of this command/);
    refused(await gratc(d, patchArgs('m.onnx', 'hard.onnx')), 2, /it is the input 'm\.onnx'/);
    refused(await gratc(d, patchArgs('m.onnx', 'sub/up/m.onnx')), 2, /it is the input 'm\.onnx'/);
    refused(await gratc(d, patchArgs('m.onnx', 'd/p.grat')), 2, /it is the input 'p\.grat'/);
    expect(listing(d)).toEqual(before);
    expect(Buffer.from(readFileSync(join(d, 'm.onnx'))).equals(Buffer.from(fixtureBytes()))).toBe(true);
  });

  it('the external data file of the input, named through a link', async () => {
    const d = setup();
    const { model, data } = externalized(fixtureModel(), 'w.bin');
    writeFileSync(join(d, 'e.onnx'), model);
    writeFileSync(join(d, 'w.bin'), data);
    symlinkSync('.', join(d, 'd'));
    const before = listing(d);
    refused(await gratc(d, patchArgs('e.onnx', 'd/w.bin')), 2, /it is the input 'w\.bin'/);
    expect(listing(d)).toEqual(before);
  });
});

describe('reliability: external data of the output is OUT.data, never someone else\'s', () => {
  it('two models with the same data file name, patched into one folder: each computes with its own weights', async () => {
    const base = folder('swap');
    writeFileSync(join(base, 'p.grat'), PATTERN);
    const A = scaled(1), B = scaled(-0.5);
    for (const [src, m] of [['srcA', A], ['srcB', B]] as const) {
      mkdirSync(join(base, src));
      const { model, data } = externalized(m, 'model.onnx.data');
      writeFileSync(join(base, src, 'model.onnx'), model);
      writeFileSync(join(base, src, 'model.onnx.data'), data);
    }
    mkdirSync(join(base, 'out'));
    const a = await gratc(base, patchArgs('srcA/model.onnx', 'out/a.onnx'));
    expect(a.code, a.stderr).toBe(0);
    // every file written is listed
    expect(a.stdout).toMatch(/^wrote out\/a\.onnx\.data \(external data, 12,288 bytes\)$/m);
    expect(a.stdout).toMatch(/^wrote out\/a\.onnx \(model, [\d,]+ bytes\)$/m);
    const b = await gratc(base, patchArgs('srcB/model.onnx', 'out/b.onnx', '--json'));
    expect(b.code, b.stderr).toBe(0);
    const files = (JSON.parse(b.stdout) as { files: { path: string; role: string; bytes: number }[] }).files;
    expect(files).toEqual([
      { path: 'out/b.onnx.data', role: 'external data', bytes: 12288 },
      { path: 'out/b.onnx', role: 'model', bytes: statSync(join(base, 'out', 'b.onnx')).size },
    ]);
    expect(readdirSync(join(base, 'out')).sort()).toEqual(['a.onnx', 'a.onnx.data', 'b.onnx', 'b.onnx.data']);
    const [refA, refB] = [await reference(A), await reference(B)];
    expect(maxAbsDiff(refA, refB), 'the two weight sets give different outputs').toBeGreaterThan(0.1);
    expect(maxAbsDiff(await runOutput(base, 'out/a.onnx'), refA), 'a.onnx computes with A\'s weights').toBeLessThan(1e-5);
    expect(maxAbsDiff(await runOutput(base, 'out/b.onnx'), refB), 'b.onnx computes with B\'s weights').toBeLessThan(1e-5);
  });

  it('location sub/w.bin patched into another folder (was: a misleading "no such file")', async () => {
    const base = folder('sub');
    writeFileSync(join(base, 'p.grat'), PATTERN);
    mkdirSync(join(base, 'm', 'sub'), { recursive: true });
    mkdirSync(join(base, 'out'));
    const { model, data } = externalized(fixtureModel(), 'sub/w.bin');
    writeFileSync(join(base, 'm', 'model.onnx'), model);
    writeFileSync(join(base, 'm', 'sub', 'w.bin'), data);
    const r = await gratc(base, patchArgs('m/model.onnx', 'out/p.onnx'));
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(base, 'out')).sort()).toEqual(['p.onnx', 'p.onnx.data']);
    expect(maxAbsDiff(await runOutput(base, 'out/p.onnx'), await reference(fixtureModel()))).toBeLessThan(1e-5);
    // beside the input: the same external data is referred to, nothing copied
    const same = await gratc(base, patchArgs('m/model.onnx', 'm/p.onnx'));
    expect(same.code, same.stderr).toBe(0);
    expect(readdirSync(join(base, 'm')).sort()).toEqual(['model.onnx', 'p.onnx', 'sub']);
    expect(maxAbsDiff(await runOutput(base, 'm/p.onnx'), await reference(fixtureModel()))).toBeLessThan(1e-5);
  });

  it('a tensor at offset 3 GiB of a sparse data file, patched into another folder: only its 12,288 bytes are copied', async () => {
    const base = folder('big');
    writeFileSync(join(base, 'p.grat'), PATTERN);
    mkdirSync(join(base, 'm'));
    mkdirSync(join(base, 'out'));
    const { model } = externalized(fixtureModel(), 'big.bin', 3 * 2 ** 30);
    writeFileSync(join(base, 'm', 'model.onnx'), model);
    sparse(join(base, 'm', 'big.bin'), 3 * 2 ** 30 + 2 ** 20);
    const r = await gratc(base, patchArgs('m/model.onnx', 'out/p.onnx', '--json'));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).files[0]).toEqual({ path: 'out/p.onnx.data', role: 'external data', bytes: 12288 });
    expect(statSync(join(base, 'out', 'p.onnx.data')).size).toBe(12288);
  });

  it('a failing patch replaces nothing (an existing w.bin, OUT.data) and leaves no temp file', async () => {
    const base = folder('fail');
    writeFileSync(join(base, 'p.grat'), PATTERN);
    mkdirSync(join(base, 'm'));
    mkdirSync(join(base, 'out'));
    const { model, data } = externalized(fixtureModel(), 'w.bin');
    writeFileSync(join(base, 'm', 'model.onnx'), model);
    writeFileSync(join(base, 'm', 'w.bin'), data);
    writeFileSync(join(base, 'out', 'w.bin'), 'someone else\'s weights');
    writeFileSync(join(base, 'out', 'p.onnx.data'), 'data of a model that was renamed');
    mkdirSync(join(base, 'out', 'q.onnx')); // the model cannot be written: it is a folder
    const before = listing(base);
    // the data file would be written first: the model's failure must undo it
    refused(await gratc(base, patchArgs('m/model.onnx', 'out/q.onnx')), 2, /cannot write 'out\/q\.onnx': is a directory/);
    // OUT.data beside no model OUT: someone else's file, not overwritten
    refused(await gratc(base, patchArgs('m/model.onnx', 'out/p.onnx')), 2, /cannot write 'out\/p\.onnx\.data': it exists, but no model 'out\/p\.onnx' does/);
    expect(listing(base)).toEqual(before);
    // patching again over its own earlier output replaces both files
    expect((await gratc(base, patchArgs('m/model.onnx', 'out/r.onnx'))).code).toBe(0);
    const again = await gratc(base, patchArgs('m/model.onnx', 'out/r.onnx'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^wrote out\/r\.onnx\.data/m);
  });
});

describe('reliability: outputs go only to new paths or existing regular files', () => {
  function setup(): string {
    const d = folder('out');
    writeFileSync(join(d, 'm.onnx'), fixtureBytes());
    writeFileSync(join(d, 'p.grat'), PATTERN);
    writeFileSync(join(d, 'x.npy'), toNpy(X));
    writeFileSync(join(d, 'victim.txt'), 'the file a link points to');
    return d;
  }

  it('run --output, inspect --png/--svg, patch --out onto a FIFO, a symlink, a device node, the source: refused, left as they were', async () => {
    const d = setup();
    mkfifo(join(d, 'fifo'));
    symlinkSync('victim.txt', join(d, 'link'));
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
    const dev = mkdev(join(d, 'full'));
    const before = listing(d);
    const targets = ['fifo', 'link', 'dangling', ...(dev ? ['full'] : [])];
    const why: Record<string, RegExp> = { fifo: /is a FIFO, not a regular file/, link: /is a symbolic link/, dangling: /is a symbolic link/, full: /is a character device, not a regular file/ };
    for (const t of targets) {
      refused(await gratc(d, ['run', 'm.onnx', '--input', 'x=x.npy', '--output', t]), 2, why[t]);
      refused(await gratc(d, ['inspect', 'p.grat', '--text', '8', '--png', t]), 2, why[t]);
      refused(await gratc(d, ['inspect', 'p.grat', '--text', '8', '--svg', t]), 2, why[t]);
      refused(await gratc(d, patchArgs('m.onnx', t)), 2, why[t]);
    }
    refused(await gratc(d, ['inspect', 'p.grat', '--text', '8', '--png', 'p.grat']), 2, /cannot write 'p\.grat': it is an input of this command/);
    refused(await gratc(d, ['inspect', 'p.grat', '--text', '8', '--png', 'a.png', '--svg', 'p.grat']), 2, /it is an input/);
    refused(await gratc(d, ['run', 'm.onnx', '--input', 'x=x.npy', '--output', 'x.npy']), 2, /cannot write 'x\.npy': it is an input/);
    refused(await gratc(d, ['run', 'm.onnx', '--input', 'x=x.npy', '--output', 'm.onnx']), 2, /cannot write 'm\.onnx': it is an input/);
    expect(listing(d), 'nothing written, nothing replaced').toEqual(before);
    if (dev) expect(statSync(join(d, 'full')).isCharacterDevice()).toBe(true);
  });

  it('compile: a FIFO named like an output is refused at once (it used to be read to compare: a hang)', async () => {
    const d = setup();
    mkdirSync(join(d, 'build'));
    mkfifo(join(d, 'build', 'manifest.json'));
    const before = listing(d);
    refused(sub(d, ['compile', 'p.grat', '--text', '8', '--target', 'onnx', '--out', 'build'], 20_000), 2, /manifest\.json': is a FIFO/);
    expect(listing(d)).toEqual(before);
  });

  it('compile: unchanged files are left alone (not even rewritten), changed ones replaced', async () => {
    const d = setup();
    const r = await gratc(d, ['compile', 'p.grat', '--text', '8', '--target', 'onnx', '--out', 'build', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const again = await gratc(d, ['compile', 'p.grat', '--text', '8', '--target', 'onnx', '--out', 'build', '--json']);
    expect(JSON.parse(again.stdout).manifest.status).toBe('unchanged');
    writeFileSync(join(d, 'build', 'manifest.json'), '{}');
    const third = await gratc(d, ['compile', 'p.grat', '--text', '8', '--target', 'onnx', '--out', 'build', '--json']);
    expect(JSON.parse(third.stdout).manifest.status).toBe('written');
  });

  it('a target whose folder is a symlink out of the output folder is refused (Outputs within)', async () => {
    const d = setup();
    mkdirSync(join(d, 'build'));
    mkdirSync(join(d, 'elsewhere'));
    symlinkSync('../elsewhere', join(d, 'build', 'sub'));
    const o = new Outputs();
    await expect(o.stage(join(d, 'build', 'sub', 'k.cu'), 'build/sub/k.cu', Buffer.from('x'), { within: join(d, 'build') }))
      .rejects.toThrow(/cannot write 'build\/sub\/k\.cu': its folder is a symbolic link to outside the output folder/);
    await o.discard();
    expect(readdirSync(join(d, 'elsewhere'))).toEqual([]);
  });

  it('existing regular files are replaced; new files are created', async () => {
    const d = setup();
    writeFileSync(join(d, 'old.npy'), 'old');
    const r = await gratc(d, ['run', 'm.onnx', '--input', 'x=x.npy', '--output', 'old.npy', '--output', 'y=new.npy']);
    expect(r.stderr).toMatch(/output 'y' is given twice/);
    const ok = await gratc(d, ['run', 'm.onnx', '--input', 'x=x.npy', '--output', 'old.npy']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(parseNpy(readFileSync(join(d, 'old.npy')), 'old.npy').shape).toEqual([1, 72, 32]);
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('reliability: inputs are regular files of bounded size', () => {
  function setup(): string {
    const d = folder('in');
    writeFileSync(join(d, 'm.onnx'), fixtureBytes());
    writeFileSync(join(d, 'p.grat'), PATTERN);
    writeFileSync(join(d, 'x.npy'), toNpy(X));
    mkfifo(join(d, 'fifo'));
    return d;
  }

  it('a FIFO or a device as the model, the pattern, an input: refused at once, nothing read', async () => {
    const d = setup();
    for (const bad of ['fifo', '/dev/null']) {
      const why = bad === 'fifo' ? /'fifo': is a FIFO, not a regular file/ : /'\/dev\/null': is a character device, not a regular file/;
      // a FIFO used to block the read for ever: in a subprocess with a timeout, once per way of
      // reading (a model, a .npy input, a .grat file); /dev/null through every command
      const call = (args: string[]): Promise<Ran> => (bad === 'fifo' ? Promise.resolve(sub(d, args, 20_000)) : gratc(d, args));
      refused(await call(['run', bad]), 1, why);
      refused(await call(['run', 'm.onnx', '--input', `x=${bad}`]), 1, why);
      refused(await call(['check', bad]), 2, why);
      if (bad === 'fifo') continue;
      refused(await call(['patch', bad, '--pattern', 'p.grat', '--out', 'o.onnx']), 1, why);
      refused(await call(['inspect', bad]), 2, why);
      refused(await call(['compile', bad, '--target', 'onnx', '--out', 'o']), 2, why);
      refused(await call(['patch', 'm.onnx', '--pattern', bad, '--out', 'o.onnx']), 2, why);
      refused(await call(['demo', '--pattern', bad]), 2, why);
      refused(await call(['verify', bad, '--backend', 'onnx']), 2, why);
    }
    expect(existsSync(join(d, 'o.onnx'))).toBe(false);
  });

  it('oversized files are refused by their size, before reading (sparse files: no disk used)', async () => {
    const d = setup();
    sparse(join(d, 'big.grat'), 100 * 2 ** 20);
    sparse(join(d, 'big.onnx'), 3 * 2 ** 30);
    sparse(join(d, 'big.npy'), 3 * 2 ** 30);
    refused(sub(d, ['check', 'big.grat']), 2, /'big\.grat': it has 104,857,600 bytes, more than a \.grat file may have \(1,048,576 bytes\)/);
    refused(await gratc(d, ['run', 'big.onnx']), 1, /'big\.onnx': it has 3,221,225,472 bytes, more than an ONNX model file may have/);
    refused(await gratc(d, ['patch', 'big.onnx', '--pattern', 'p.grat', '--out', 'o.onnx']), 1, /more than an ONNX model file may have/);
    refused(await gratc(d, ['run', 'm.onnx', '--input', 'x=big.npy']), 1, /'big\.npy': it has 3,221,225,472 bytes, more than a \.npy input may have/);
  });

  it('--threads is bounded (100000 hung onnxruntime at 2 GB)', async () => {
    const d = setup();
    for (const cmd of [['run', 'm.onnx', '--input', 'x=x.npy'], ['demo']]) {
      const r = sub(d, [...cmd, '--threads', '100000'], 20_000);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/at most 1024/);
    }
  });
});
