/**
 * What the kernel backends (CUDA, WGSL) share beyond the plan: their head_dim limit and the
 * template-loading and value checks (templates receive only validated identifiers and numbers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Code } from '../dsl/codes.js';
import { diag, type Diagnostic } from '../dsl/diagnostics.js';

/** A backend's plan of a pattern: its typed spec, or null with the diagnostics that say why. */
export interface PlanResult<S> {
  readonly spec: S | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** head_dim values the kernels are written for (tiles of 16 dims, a register budget). */
export const KERNEL_HEAD_DIMS = [64, 128] as const;

export function headDimError(code: Code, backend: string, headDim: number, hint: string): Diagnostic | null {
  if ((KERNEL_HEAD_DIMS as readonly number[]).includes(headDim)) return null;
  return diag(code, `the ${backend} backend supports head_dim ${KERNEL_HEAD_DIMS.join(' and ')}, got ${headDim}`, null, { hint });
}

/**
 * A template file of a backend folder (`cuda`, `wgsl`): in the source tree (vitest, tsx), or from
 * dist/codegen/<backend> (tsc output) three folders up.
 */
export function templateText(backend: string, file: string): string {
  const candidates = [new URL(`./${backend}/templates/${file}`, import.meta.url), new URL(`../../codegen/${backend}/templates/${file}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  throw new Error(`${backend} backend: template ${file} not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

const compiled = new Map<string, HandlebarsTemplateDelegate>();
/**
 * A compiled handlebars template (strict: a missing value is an error), cached. noEscape: the
 * targets are CUDA, WGSL and Python, not HTML (escaping printed `&gt;&#x3D;` into comments);
 * values are numbers, booleans and identifiers, safe as they are. C is the template's context: an
 * interface next to the code that renders it, so a missing or misspelled value is a type error.
 */
export function template<C extends object>(backend: string, file: string): (ctx: C) => string {
  const key = `${backend}/${file}`;
  let t = compiled.get(key);
  if (!t) {
    t = Handlebars.compile(templateText(backend, file), { strict: true, noEscape: true });
    compiled.set(key, t);
  }
  const f = t;
  return (ctx: C) => f(ctx);
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A generated identifier, checked. */
export const ident = (s: string): string => {
  if (!IDENT.test(s)) throw new Error(`not an identifier: ${s}`);
  return s;
};
