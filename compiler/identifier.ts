/**
 * The one name sanitizer: any text (a pattern name, a file's base name) as a C/WGSL/Python
 * identifier. The checker already guarantees that a `pattern` statement's name is one; default
 * names come from file names, which may not be.
 */

/** Longest pattern name (default names from file names are cut to this too). */
export const MAX_NAME = 64;

/**
 * Longest pattern name inside a generated kernel's or module's name (compiler/plan.ts): shorter
 * than MAX_NAME, as it always was, so a 49 to 64 character name keeps the kernel names it had.
 */
export const KERNEL_NAME_CHARS = 48;

/**
 * `name` as an identifier of at most `max` characters: every character outside [A-Za-z0-9_] becomes
 * `_`, a leading digit gets a `_` before it, and an empty result is `pattern`.
 */
export function identifierOf(name: string, max: number = MAX_NAME): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
  return s.length > 0 ? s.slice(0, max) : 'pattern';
}
