/**
 * Nothing from an input reaches the terminal raw: file names, node and output names of a model,
 * source lines, messages that quote them, paths in "wrote" lines, JSON. One function does it
 * (`terminalSafe`, dsl/render.ts): C0, DEL, C1 (U+009B is a one-byte CSI), U+2028/9 and the bidi
 * controls are shown as `\uXXXX`. Checked as a property of the function and of the diagnostics
 * renderer (random text, random spans: no unsafe character out, carets under the span), then on
 * every command that prints a name or a path.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderDiagnostic, span, type Diagnostic, type Severity, type Span } from '../dsl/index.js';
import { terminalSafe } from '../dsl/render.js';
import { toNpy } from '../runtime/onnx/npy.js';
import { DT, node, valueInfo } from '../runtime/onnx/tensor.js';
import { gratcIn } from './support/cli.js';
import { fixtureBytes, PATTERN } from './support/hostile_onnx.js';

/** A diagnostic of any code and severity: these tests are about rendering, not codes (dsl/codes.ts). */
const make = (severity: Severity) => (code: string, message: string, at: Span | null, extra: Partial<Diagnostic> = {}): Diagnostic => ({ severity, code, message, span: at, ...extra });
const error = make('error');

const dir = mkdtempSync(join(tmpdir(), 'gratc-escape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterAll(() => console.log(`reliability figures (terminal escaping): ${JSON.stringify(COUNTS)}`));

export const COUNTS = { properties: 0, commands: 0 };

/**
 * Unsafe characters, by the standards' definitions rather than terminalSafe's own list: Unicode
 * general category Cc (C0, DEL, C1), the bidi controls (Bidi_Control: ALM, LRM, RLM, LRE..RLO,
 * LRI..PDI) and the line/paragraph separators (Zl, Zp).
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}\p{Zl}\p{Zp}]/u;
/** What the commands print: unsafe characters other than the newlines that end lines. */
const RAW = /[^\P{Cc}\n]|[\p{Bidi_Control}\p{Zl}\p{Zp}]/u;
/** The same, tabs allowed too (kept in a source excerpt so the carets line up). */
const RAW_OR_TAB = /[^\P{Cc}\n\t]|[\p{Bidi_Control}\p{Zl}\p{Zp}]/u;

/** Hostile fragments: ESC sequences, a one-byte CSI, CR, bidi overrides and isolates. */
const EVIL = ['\u001b[2J', '\u009b31m', '\r', '\u202e', '\u2067', '\u200f', '\u061c', '\u2028', '\u007f', '\u0085'];
const evilName = (stem: string): string => `${stem}${EVIL.join('')}x`;

/** Strings rich in unsafe characters. */
const hostile = fc.string({ unit: fc.oneof(fc.constantFrom(...EVIL.flatMap((e) => [...e]), '\t', '\n', 'a', ' ', 'é', '😀'), fc.integer({ min: 0, max: 0x2100 }).map((c) => String.fromCharCode(c))), maxLength: 40 });

describe('terminalSafe', () => {
  it('leaves no unsafe character, is idempotent, and keeps JSON meaning (property)', () => {
    fc.assert(fc.property(hostile, (s) => {
      COUNTS.properties++;
      const t = terminalSafe(s);
      expect(t).not.toMatch(UNSAFE);
      expect(terminalSafe(t)).toBe(t);
      expect(JSON.parse(terminalSafe(JSON.stringify(s)))).toBe(s);
      // and nothing safe is changed: removing the escapes of unsafe characters gives s back
      expect(t.replace(/\\u([0-9a-f]{4})/g, (m, h: string) => (UNSAFE.test(String.fromCharCode(parseInt(h, 16))) ? String.fromCharCode(parseInt(h, 16)) : m))).toBe(s);
    }), { numRuns: 500 });
  });

  it('renders diagnostics with no unsafe character in path, message, hint, excerpt; carets under the span (property)', () => {
    fc.assert(fc.property(hostile, hostile, hostile, fc.nat(), fc.nat(), (path, line, msg, a, b) => {
      COUNTS.properties++;
      const text = `${line.replace(/[\r\n]/g, ' ')}\nnext line`; // one line (\r ends a line too), then another
      const lineLen = text.indexOf('\n');
      const start = lineLen === 0 ? 0 : a % lineLen, end = Math.min(lineLen, start + (b % 8));
      const d = { ...error('E0001', `bad ${msg}`, span(start, end)), hint: msg, notes: [{ message: msg, span: span(start, end) }] };
      const out = renderDiagnostic(d, { path, text });
      expect(out).not.toMatch(RAW_OR_TAB);
      // the caret line starts under the escaped prefix of the span's line
      const [, src, carets] = out.split('\n');
      const bar = src.indexOf(' | ') + 3;
      const shownStart = carets.indexOf('^') - bar;
      const prefix = text.slice(0, start).split('\t').map(terminalSafe).join('\t');
      if (prefix.length <= 60) { // (further right, long lines are windowed)
        expect(src.slice(bar, bar + prefix.length)).toBe(prefix);
        expect(shownStart).toBe(prefix.length);
      }
    }), { numRuns: 300 });
  });

  it('the old excerpt replacement kept C1 and bidi controls (regression)', () => {
    const text = 'image attends \u202e x # \u009b[2J';
    const out = renderDiagnostic(error('E0001', "unexpected character '\u202e'", span(14, 15)), { path: 'a\u202eb.grat', text });
    expect(out).not.toMatch(RAW);
    expect(out).toContain('image attends \\u202e x # \\u009b[2J');
    expect(out).toContain('a\\u202eb.grat:1:15');
  });
});

describe('commands print names and paths escaped', () => {
  const run = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    COUNTS.commands++;
    const r = await gratcIn(args, dir);
    expect(r.stdout + r.stderr, `${JSON.stringify(args)}: a raw control character reached the terminal`).not.toMatch(RAW);
    return r;
  };

  it("check: the FILE: ok line, --json, diagnostics with C1 and bidi characters in the line", async () => {
    const name = evilName('ok');
    writeFileSync(join(dir, `${name}.grat`), 'grid x=64\ngroup x=8\nimage attends neighbors(1)\nhead_dim 64\n');
    const ok = await run(['check', `${name}.grat`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${terminalSafe(name)}.grat: ok\n`);
    const j = await run(['check', '--json', `${name}.grat`]);
    expect(JSON.parse(j.stdout).files[0].path, 'JSON keeps the name exactly').toBe(`${name}.grat`);
    writeFileSync(join(dir, 'bidi.grat'), 'grid x=64\ngroup x=8\nimage attends \u202e neighbours(1) # \u009b[2J \u2066\nhead_dim 64\n');
    const bad = await run(['check', 'bidi.grat']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unexpected character '\\u202e'");
    expect(bad.stderr).toContain('image attends \\u202e neighbours(1) # \\u009b[2J \\u2066');
    const jb = await run(['check', '--json', 'bidi.grat']);
    expect(JSON.parse(jb.stdout).files[0].diagnostics[0].message).toBe("unexpected character '\u202e'");
    // an unreadable file's error line, in check's own loop
    const missing = await run(['check', `${name}.missing.grat`]);
    expect(missing.stderr).toContain(`cannot read '${terminalSafe(name)}.missing.grat'`);
  });

  it("run: a model's output names, the output path", async () => {
    const out = evilName('y');
    const model = create(ModelProtoSchema, {
      irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
      graph: { name: 'g', node: [node('Identity', ['x'], [out])], input: [valueInfo('x', DT.FLOAT, [2])], output: [valueInfo(out, DT.FLOAT, [2])] },
    });
    writeFileSync(join(dir, 'id.onnx'), toBinary(ModelProtoSchema, model));
    writeFileSync(join(dir, 'x.npy'), toNpy({ dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) }));
    const file = `${evilName('o')}.npy`;
    const r = await run(['run', 'id.onnx', '--input', 'x=x.npy', '--output', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${terminalSafe(out)}: float32[2] min 1.0000 max 2.0000`);
    expect(r.stdout).toContain(`→ ${terminalSafe(file)}`);
    expect(existsSync(join(dir, file)), 'the file has its real name').toBe(true);
    const j = await run(['run', 'id.onnx', '--input', 'x=x.npy', '--json']);
    expect(JSON.parse(j.stdout).outputs[0].name).toBe(out);
    const wrong = await run(['run', 'id.onnx', '--input', 'x=x.npy', '--output', `${evilName('nope')}=a.npy`]);
    expect(wrong.code).toBe(1);
  });

  it('"wrote" lines of inspect, compile and patch', async () => {
    writeFileSync(join(dir, 'p.grat'), PATTERN);
    const png = `${evilName('pic')}.png`, svg = `${evilName('pic')}.svg`;
    const i = await run(['inspect', 'p.grat', '--text', '8', '--png', png, '--svg', svg]);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toContain(`wrote ${terminalSafe(png)} (`);
    expect(i.stdout).toContain(`wrote ${terminalSafe(svg)} (`);
    const outDir = evilName('build');
    const c = await run(['compile', 'p.grat', '--text', '8', '--target', 'onnx', '--out', outDir]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain(`wrote     ${terminalSafe(outDir)}/manifest.json`);
    writeFileSync(join(dir, 'm.onnx'), fixtureBytes());
    const model = `${evilName('patched')}.onnx`;
    const p = await run(['patch', 'm.onnx', '--pattern', 'p.grat', '--out', model]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain(`→ ${terminalSafe(model)} (`);
    expect(p.stdout).toContain(`wrote ${terminalSafe(model)} (model, `);
    // errors quoting the path: escaped on the one error line
    const e = await run(['inspect', 'p.grat', '--text', '8', '--png', `${evilName('no')}/x.png`]);
    expect(e.code).toBe(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
