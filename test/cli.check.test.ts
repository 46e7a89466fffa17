/** `gratc check`: diagnostics only, several files, --json, and sizes left as `?`. */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLUX, gratc, gratcIn, MALFORMED, put, SYMBOLIC, tempDir, WARNS } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = tempDir();
  put(dir, 'flux.grat', FLUX);
  put(dir, 'bad.grat', MALFORMED);
  put(dir, 'sym.grat', SYMBOLIC);
  put(dir, 'warns.grat', WARNS);
});

interface CheckJson {
  files: {
    path: string;
    ok: boolean;
    error?: string;
    diagnostics: {
      severity: string; code: string; message: string;
      line: number | null; col: number | null; endLine: number | null; endCol: number | null;
      hint: string | null;
      notes: { message: string; line: number | null; col: number | null; endLine: number | null; endCol: number | null }[];
    }[];
  }[];
}

describe('gratc check', () => {
  it('sizes left as ? are fine without --grid/--text', async () => {
    const r = await gratcIn(['check', 'sym.grat'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('sym.grat: ok\n');
  });

  it('with any size flag, checks as compile would: every size still left as ? is an error', async () => {
    // --text binds the text count; the grid stays unbound, which compile and inspect refuse
    const textOnly = await gratcIn(['check', 'sym.grat', '--text', '77'], dir);
    expect(textOnly.code).toBe(1);
    expect(textOnly.stderr).toMatch(/^sym\.grat:\d+:\d+: error\[E0301\]/m);
    // and --grid alone leaves the text count unbound (issue 16.8: check passed, inspect failed)
    const gridOnly = await gratcIn(['check', 'sym.grat', '--grid', '100x70'], dir);
    expect(gridOnly.code).toBe(1);
    expect(gridOnly.stderr).toMatch(/^sym\.grat:\d+:\d+: error\[E0302\]/m);
    const inspect = await gratcIn(['inspect', 'sym.grat', '--grid', '100x70'], dir);
    expect(inspect.code).toBe(1);
    const r = await gratcIn(['check', 'sym.grat', '--grid', '100x70', '--text', '77'], dir);
    expect(r.code).toBe(0);
  });

  it('binding a size the file fixes is an error in the file', async () => {
    const r = await gratcIn(['check', 'flux.grat', '--grid', '32x32'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^flux\.grat:3:\d+: error\[E0304\]/m);
  });

  it('checks every file, prints each one\'s diagnostics, one summary, and the worst exit code', () => {
    const r = gratc(['check', 'flux.grat', 'bad.grat', 'warns.grat'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('flux.grat: ok\nwarns.grat: ok (1 warning)\n');
    expect(r.stderr).toMatch(/^bad\.grat:4:15: error\[E0401\]/m);
    expect(r.stderr).toMatch(/^warns\.grat:4:\d+: warning\[W0401\]/m);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('1 error, 1 warning');
  });

  it('an unreadable file among others: exit 2, the others still checked', () => {
    const r = gratc(['check', 'nope.grat', 'flux.grat'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("gratc: error: cannot read 'nope.grat': no such file");
    expect(r.stdout).toBe('flux.grat: ok\n');
  });

  it('--json has the documented shape', () => {
    const r = gratc(['check', '--json', 'flux.grat', 'bad.grat', 'warns.grat', 'nope.grat'], dir);
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout) as CheckJson;
    expect(j.files.map((f) => [f.path, f.ok])).toEqual([['flux.grat', true], ['bad.grat', false], ['warns.grat', true], ['nope.grat', false]]);
    expect(j.files[0].diagnostics).toEqual([]);
    expect(j.files[1].diagnostics).toEqual([{
      severity: 'error', code: 'E0401', message: "unknown region 'neighbours'",
      line: 4, col: 15, endLine: 4, endCol: 25, hint: "did you mean 'neighbors'?", notes: [],
    }]);
    const w = j.files[2].diagnostics[0];
    expect(w).toMatchObject({ severity: 'warning', code: 'W0401', line: 4 });
    expect(w.notes).toHaveLength(1);
    expect(w.notes[0]).toEqual({ message: expect.any(String), line: 4, col: expect.any(Number), endLine: 4, endCol: expect.any(Number) });
    expect(Object.keys(w).sort()).toEqual(['code', 'col', 'endCol', 'endLine', 'hint', 'line', 'message', 'notes', 'severity']);
    expect(j.files[3]).toEqual({ path: 'nope.grat', ok: false, diagnostics: [], error: "cannot read 'nope.grat': no such file" });
  });

  it('--json keeps stderr free of rendered diagnostics', () => {
    const r = gratc(['check', '--json', 'bad.grat'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
  });

  it('a diagnostic without a span has null positions', async () => {
    put(dir, 'nohead.grat', 'grid x=10\ngroup x=5\nimage attends neighbors(1)\n');
    const r = await gratcIn(['check', '--json', 'nohead.grat'], dir);
    const d = (JSON.parse(r.stdout) as CheckJson).files[0].diagnostics.find((x) => x.code === 'E0102');
    expect(d).toMatchObject({ line: null, col: null, endLine: null, endCol: null });
    expect(r.code).toBe(1);
  });

  it('reports a file it may not read as unreadable (exit 2)', async () => {
    if (process.getuid?.() === 0) return; // root reads everything
    const p = put(dir, 'secret.grat', FLUX);
    chmodSync(join(dir, p), 0o000);
    const r = await gratcIn(['check', p], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('permission denied');
  });
});
