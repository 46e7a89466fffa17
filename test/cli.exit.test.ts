/** The gratc executable as a user meets it: exit codes, help, version, and no stack traces. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useColor } from '../cli/io.js';
import { FLUX, gratc, MALFORMED, put, ROOT, tempDir, WARNS } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
  put(dir, 'flux.grat', FLUX);
  put(dir, 'bad.grat', MALFORMED);
  put(dir, 'warns.grat', WARNS);
});

const noStack = (s: string): void => {
  expect(s).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
  expect(s).not.toMatch(/node:internal|TypeError|ReferenceError/);
};

describe('exit codes', () => {
  it('0 for a clean file', () => {
    const r = gratc(['check', 'flux.grat'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('flux.grat: ok\n');
    expect(r.stderr).toBe('');
  });

  it('0 with warnings, which are still printed with a summary', () => {
    const r = gratc(['check', 'warns.grat'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warns\.grat:4:\d+: warning\[W0401\]/m);
    expect(r.stderr).toContain('0 errors, 1 warning\n');
    expect(r.stdout).toBe('warns.grat: ok (1 warning)\n');
  });

  it('1 for a malformed file, with file:line:col and no stack trace', () => {
    for (const cmd of [['check'], ['inspect'], ['compile', '--target', 'cuda', '--out', 'o']]) {
      const r = gratc([...cmd, 'bad.grat'], dir);
      if (cmd[0] === 'compile' && r.code === 2) {
        // the cuda backend is not in this build yet: an unavailable target is reported first
        expect(r.stderr).toContain("target 'cuda' is not available");
      } else {
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^bad\.grat:4:15: error\[E0401\]: unknown region 'neighbours'$/m);
        expect(r.stderr).toContain("did you mean 'neighbors'?");
        expect(r.stderr).toContain('1 error, 0 warnings');
      }
      noStack(r.stderr);
    }
  });

  it('no colour when stderr is not a terminal', () => {
    const r = gratc(['check', 'bad.grat'], dir);
    expect(r.stderr).not.toContain('\x1b[');
  });

  it('colour only on a terminal with NO_COLOR unset', () => {
    expect(useColor(true, {})).toBe(true);
    expect(useColor(false, {})).toBe(false);
    expect(useColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(useColor(true, { NO_COLOR: '' })).toBe(false);
  });

  it.each([
    [['check', 'missing.grat'], /^gratc: error: cannot read 'missing\.grat': no such file$/m],
    [['inspect', '.'], /^gratc: error: cannot read '\.': is a directory$/m],
    [['inspect', 'flux.grat', '--grid', '64x'], /^gratc: error: option '--grid <sizes>' argument '64x' is invalid/m],
    [['inspect', 'flux.grat', '--grid', '0x64'], /argument '0x64' is invalid/],
    [['inspect', 'flux.grat', '--grid', '1x2x3x4'], /argument '1x2x3x4' is invalid/],
    [['inspect', 'flux.grat', '--text', '-3'], /argument '-3' is invalid/],
    [['inspect', 'flux.grat', '--bogus'], /^gratc: error: unknown option '--bogus'$/m],
    [['inspect'], /^gratc: error: missing required argument 'file'$/m],
    [['check'], /^gratc: error: missing required argument 'files'$/m],
    [['frobnicate'], /^gratc: error: unknown command 'frobnicate'$/m],
    [['inspect', 'flux.grat', '--query', '1', '--query-at', '0,0'], /cannot be used with option '--query-at/],
    [['inspect', 'flux.grat', '--query', '99'], /^gratc: error: --query 99 is out of range: the pattern has 16 query groups \(0 to 15\)$/m],
    [['inspect', 'flux.grat', '--query-at', '1,2,3'], /--query-at takes 2 coordinates \(h,w\), got 3/],
    [['inspect', 'flux.grat', '--query-at', '64,0'], /h=64 is outside the grid/],
    [['inspect', 'flux.grat', '--valid', '513'], /--valid 513 is more than the text segment's 512 tokens/],
    [['compile', 'flux.grat', '--out', 'o'], /required option '--target <target>' not specified/],
    [['compile', 'flux.grat', '--target', 'cuda'], /required option '--out <dir>' not specified/],
    [['compile', 'flux.grat', '--target', 'metal', '--out', 'o'], /argument 'metal' is invalid\. Allowed choices are cuda, wgsl, onnx/],
  ])('2 for usage errors: %j', (args, message) => {
    const r = gratc(args, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('2 and the help on stderr when no command is given', () => {
    const r = gratc([], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: gratc');
  });

  it('2 for a target without a registered backend', () => {
    // the targets registered by codegen/all.ts at test time
    const r = gratc(['compile', 'flux.grat', '--target', 'wgsl', '--out', 'out'], dir);
    if (r.code === 2) expect(r.stderr).toMatch(/^gratc: error: target 'wgsl' is not available in this build \(available: .*\)$/m);
    else expect(r.code).toBe(0); // a wgsl backend has landed
  });
});

describe('--help and --version', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = gratc([flag], dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it.each([[[]], [['check']], [['inspect']], [['compile']]])('%j --help has usage, exit codes and an example', (cmd) => {
    const r = gratc([...cmd, '--help'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: gratc ${cmd.length ? `${cmd[0]} ` : ''}`);
    expect(r.stdout).toMatch(/Examples:\n {2}\$ gratc /);
    expect(r.stderr).toBe('');
  });

  it('help COMMAND is the same as COMMAND --help', () => {
    expect(gratc(['help', 'inspect'], dir).stdout).toBe(gratc(['inspect', '--help'], dir).stdout);
  });

  it('check --help says unbound sizes are not required', () => {
    expect(gratc(['check', '--help'], dir).stdout).toContain('Sizes left as ? are not required for check');
  });
});
