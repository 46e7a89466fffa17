/**
 * Each backend declares its target name and schedule settings (codegen/<target>/target.ts);
 * codegen/targets.ts lists them for the CLI and the checker, codegen/all.ts lists the backends.
 * The compiler knows neither: the CLI passes the table to checkSource.
 */
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../codegen/all.js';
import { SCHEDULE_KEYS, TARGETS } from '../codegen/targets.js';
import { checkSource } from '../compiler/index.js';

const BASE = 'grid h=4 w=4\ngroup h=2 w=2\nimage attends grid\nhead_dim 8\n';

describe('targets', () => {
  it('the backend list and the target list name the same targets', () => {
    expect(BACKENDS.map((b) => b.target).sort()).toEqual([...TARGETS].sort());
    expect(Object.keys(SCHEDULE_KEYS).sort()).toEqual([...TARGETS].sort());
  });

  it('with the table, the checker refuses an unknown target or setting', () => {
    const codes = (extra: string): string[] => checkSource(BASE + extra, { schedules: SCHEDULE_KEYS }).diagnostics.map((d) => d.code);
    expect(codes('schedule cuda block_q=64 warps=4\n')).toEqual([]);
    expect(codes('schedule cuda blok_q=64\n')).toEqual(['E0702']);
    expect(codes('schedule onnx block_q=64\n')).toEqual(['E0702']);
    expect(codes('schedule metal block_q=64\n')).toEqual(['E0206']);
  });

  it('without it, the checker keeps every target and setting and checks only values', () => {
    const r = checkSource(`${BASE}schedule metal tile=8\nschedule __proto__ __proto__=2\n`);
    expect(r.diagnostics).toEqual([]);
    expect(JSON.stringify(r.ir!.schedule)).toBe('{"metal":{"tile":8},"__proto__":{"__proto__":2}}'); // own keys, no prototype set
    expect(checkSource(`${BASE}schedule metal tile=0\n`).diagnostics.map((d) => d.code)).toEqual(['E0203']);
  });
});
