/**
 * Every example gratc shows a new user runs exactly as printed and exits 0: the `$ gratc ...`
 * lines of `gratc --help` and of each command's --help, the lines of README.md's shell blocks
 * that start with `gratc` or `npx gratc`, and the `#   gratc ...` lines in the header comments
 * of examples/*.grat. No example is skipped: the examples themselves are kept cheap (one WGSL
 * variant per verify, small grids). The lines of one source run in order, in bash, in a fresh
 * folder holding a copy of examples/ (as a fresh clone's root has), with `gratc` on PATH as the
 * built dist/cli/main.js; an example may use what an earlier one of its source wrote.
 *
 * stderr reaches bash through a FIFO, as in a shell pipe: it must carry no progress (that is for
 * terminals only), no Dawn limit notice and no npm warning.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gratcIn, MAIN, ROOT, tempDir } from './support/cli.js';

/** `$ gratc ...` lines of a help text's Examples section(s). */
export function helpExamples(help: string): string[] {
  return help.split('\n').map((l) => /^\s+\$ (gratc\b.*?)\s*$/.exec(l)?.[1]).filter((l): l is string => l !== undefined);
}

/** Lines of fenced shell blocks that start with `gratc` or `npx gratc` (npx dropped: gratc is on PATH). */
export function readmeExamples(md: string): string[] {
  const out: string[] = [];
  let inShell = false, inFence = false;
  for (const raw of md.split('\n')) {
    const fence = /^\s*```\s*([\w-]*)/.exec(raw);
    if (fence) {
      inShell = !inFence && ['', 'sh', 'bash', 'shell', 'console'].includes(fence[1]);
      inFence = !inFence;
      continue;
    }
    const line = raw.trim().replace(/^\$\s+/, '');
    if (inFence && inShell && /^(npx\s+)?gratc\b/.test(line)) out.push(line.replace(/^npx\s+/, ''));
  }
  return out;
}

/** `#   gratc ...` lines of a .grat file's comments, without a trailing `  (remark)`. */
export function gratExamples(text: string): string[] {
  return text.split('\n')
    .map((l) => /^#\s+(gratc\s.*?)\s*$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined)
    .map((l) => l.replace(/\s{2,}\(.*\)$/, ''));
}

const commands = async (): Promise<string[]> => {
  const top = (await gratcIn(['--help'], ROOT)).stdout;
  const section = top.slice(top.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
};

interface Source { name: string; lines: string[] }

async function sources(): Promise<Source[]> {
  const out: Source[] = [{ name: 'gratc --help', lines: helpExamples((await gratcIn(['--help'], ROOT)).stdout) }];
  for (const c of await commands()) out.push({ name: `gratc ${c} --help`, lines: helpExamples((await gratcIn([c, '--help'], ROOT)).stdout) });
  out.push({ name: 'README.md', lines: readmeExamples(readFileSync(join(ROOT, 'README.md'), 'utf8')) });
  for (const f of readdirSync(join(ROOT, 'examples')).filter((n) => n.endsWith('.grat')).sort()) {
    out.push({ name: `examples/${f}`, lines: gratExamples(readFileSync(join(ROOT, 'examples', f), 'utf8')) });
  }
  return out;
}

/** A folder with examples/ and a bin/gratc running the built CLI. */
function freshRoot(): { cwd: string; path: string } {
  const cwd = tempDir();
  cpSync(join(ROOT, 'examples'), join(cwd, 'examples'), { recursive: true });
  const bin = join(tempDir(), 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'gratc'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} "$@"\n`);
  chmodSync(join(bin, 'gratc'), 0o755);
  return { cwd, path: `${bin}:${process.env.PATH ?? ''}` };
}

/** Runs one example line; stderr through a FIFO (bash process substitution), as in a shell pipe. */
function runLine(line: string, root: { cwd: string; path: string }): { code: number; stdout: string; stderr: string } {
  const env: Record<string, string | undefined> = { ...process.env, PATH: root.path };
  delete env.NO_COLOR;
  const r = spawnSync('bash', ['-c', `set -o pipefail\nexec 2> >(cat >&2)\n${line}`], { cwd: root.cwd, encoding: 'utf8', env, maxBuffer: 64 * 2 ** 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const all = await sources();

describe('examples as printed', () => {
  it('finds the examples of every command, the README and the .grat files', () => {
    const byName = new Map(all.map((s) => [s.name, s.lines.length]));
    for (const c of ['check', 'inspect', 'compile', 'patch', 'run', 'demo', 'verify']) expect(byName.get(`gratc ${c} --help`), c).toBeGreaterThanOrEqual(2);
    expect(byName.get('gratc --help')).toBeGreaterThanOrEqual(4);
    expect(all.reduce((n, s) => n + s.lines.length, 0)).toBeGreaterThan(30);
  });

  it('extracts README lines from shell blocks only, npx dropped', () => {
    const md = '```sh\nnpx gratc demo     # x\nnpm ci && npx gratc demo\n$ gratc check a.grat\n```\n```grat\ngratc inspect no\n```\ngratc prose\n';
    expect(readmeExamples(md)).toEqual(['gratc demo     # x', 'gratc check a.grat']);
    expect(gratExamples('#   gratc inspect a.grat --grid 64x64      (1024x1024 image)\n# gratc demo\n')).toEqual(['gratc inspect a.grat --grid 64x64', 'gratc demo']);
  });
});

for (const src of all.filter((s) => s.lines.length > 0)) {
  describe(src.name, () => {
    let root: { cwd: string; path: string };
    beforeAll(() => { root = freshRoot(); });
    for (const line of src.lines) {
      it(line, () => {
        const r = runLine(line, root);
        expect(r.code, `${line}\n${r.stderr}`).toBe(0);
        expect(r.stderr).not.toMatch(/artificially reduced|npm warn/i);
        // progress is for terminals: no bar, no carriage return, no escape sequence on a FIFO
        expect(r.stderr).not.toMatch(/[\r\u001b]|█|░/);
      }, 900_000);
    }
  });
}
