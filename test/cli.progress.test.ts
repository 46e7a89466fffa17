/**
 * Progress (cli/progress.ts): drawn on stderr only when stderr is a terminal, never on stdout,
 * and not at all with --quiet. In-process with an injected terminal (Io.progress) for each
 * command with slow work, and once for real on a pseudo-terminal from script(1). (That a pipe
 * gets none is checked for every example in test/cli.examples.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../cli/io.js';
import { runCli } from '../cli/run.js';
import { buildDefaultModel, DEFAULT_CONFIG } from '../runtime/onnx/default/model.js';
import { demoInputs } from '../runtime/onnx/demo.js';
import { toNpy } from '../runtime/onnx/npy.js';
import { MAIN, ROOT, tempDir } from './support/cli.js';

/** A terminal that records what is drawn on it. */
function fakeTerminal(): NodeJS.WritableStream & { drawn: string } {
  const t = { drawn: '', isTTY: true, columns: 120, write(s: string | Uint8Array) { t.drawn += String(s); return true; } };
  return t as unknown as NodeJS.WritableStream & { drawn: string };
}

async function gratcOnTerminal(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string; drawn: string }> {
  const term = fakeTerminal();
  const base = memoryIo(cwd);
  const code = await runCli(args, Object.assign(base, { progress: term }));
  return { code, stdout: base.stdout, stderr: base.stderr, drawn: term.drawn };
}

const dir = tempDir();
const CFG = { ...DEFAULT_CONFIG, grid: [8, 8] as const, text: 8 };

beforeAll(() => {
  writeFileSync(join(dir, 'm.onnx'), toBinary(ModelProtoSchema, buildDefaultModel(CFG)));
  const inp = demoInputs(CFG);
  writeFileSync(join(dir, 'text.npy'), toNpy(inp.text));
  writeFileSync(join(dir, 'image.npy'), toNpy(inp.image));
  writeFileSync(join(dir, 'p.grat'), 'grid h=? w=?\ngroup h=4 w=4\ntext ? before\nimage attends neighbors(1) + text\ntext attends all\nhead_dim 32\ndtype fp32\n');
});

const FLUX = join(ROOT, 'examples', 'flux_grat_b.grat');
const CASES: [string, string[], RegExp][] = [
  ['compile', ['compile', FLUX, '--grid', '32x32', '--target', 'cuda', '--out', 'out'], /emitting cuda/],
  ['inspect', ['inspect', FLUX, '--grid', '32x32', '--svg', 'p.svg'], /the statistics/],
  ['patch', ['patch', 'm.onnx', '--pattern', 'p.grat', '--grid', '8x8', '--out', 'o.onnx'], /reading, patching and writing m\.onnx/],
  ['run', ['run', 'm.onnx', '--input', 'text=text.npy', '--input', 'image=image.npy'], /reading m\.onnx/],
  ['verify', ['verify', FLUX, '--grid', '8x8', '--backend', 'onnx'], /building the ONNX model|running it with onnxruntime|float64 reference/],
  ['demo', ['demo', '--grid', '8x8', '--text', '8', '--repeat', '1'], /building the default model|patching|timing/],
];

describe('progress on a terminal, and only there', () => {
  for (const [name, args, stage] of CASES) {
    it(`${name}: a bar naming the stage on the terminal, nothing on stdout; --quiet: none`, async () => {
      const r = await gratcOnTerminal(args, dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.drawn).toMatch(stage);
      expect(r.drawn).toMatch(/\u001b\[\?25l/); // the cursor hidden while drawing...
      expect(r.drawn).toMatch(/\u001b\[\?25h/); // ...and shown again: the bar was stopped
      expect(r.stdout).not.toMatch(/[\r\u001b]|█|░/);
      expect(r.stderr).not.toMatch(/[\r\u001b]|█|░/);
      const q = await gratcOnTerminal([...args, '--quiet'], dir);
      expect(q.code, q.stderr).toBe(0);
      expect(q.drawn).toBe('');
    }, 120_000);
  }

  it('a command that fails midway leaves no bar drawn', async () => {
    const r = await gratcOnTerminal(['run', 'm.onnx', '--input', 'text=text.npy'], dir); // the image input is missing
    expect(r.code).toBe(1);
    expect(r.drawn).toMatch(/\u001b\[\?25h/);
  });

  it('a real pseudo-terminal gets the bar on stderr; -q removes it', () => {
    const cmd = (extra: string): string => `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} compile ${JSON.stringify(FLUX)} --grid 32x32 --target wgsl --out ${JSON.stringify(join(dir, 'tty'))} ${extra}`;
    const tty = spawnSync('script', ['-qec', cmd(''), '/dev/null'], { encoding: 'utf8' });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/emitting wgsl/);
    expect(tty.stdout).toMatch(/\u001b\[\?25l/);
    const quiet = spawnSync('script', ['-qec', cmd('-q'), '/dev/null'], { encoding: 'utf8' });
    expect(quiet.status, quiet.stdout).toBe(0);
    expect(quiet.stdout).not.toMatch(/emitting|\u001b\[\?25l/);
    expect(quiet.stdout).toMatch(/unchanged|wrote/);
  });
});
