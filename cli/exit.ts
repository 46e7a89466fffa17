/**
 * Exit codes and the errors that carry them. Commands throw a CliError; `run.ts` prints it as
 * one line (`gratc: error: ...`) and exits with its code. Nothing else ever reaches the user.
 */

export const EXIT = {
  /** Success (warnings allowed). */
  ok: 0,
  /** The input file has errors (diagnostics were printed). */
  diagnostics: 1,
  /** Bad command line: unknown flag, bad value, missing or unreadable file, unavailable target. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line or an environment problem (exit 2). */
export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);

/** A problem with the input file that is not a diagnostic of the checker (exit 1). */
export const inputError = (message: string): CliError => new CliError(message, EXIT.diagnostics);

/** The one escaping function for names and paths printed (defined beside the diagnostics renderer). */
export { terminalSafe } from '../dsl/render.js';

/** The message of anything thrown, on one line. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
}
