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

/**
 * Text from an input (a node name of a hostile model, a path) made safe for a terminal: control
 * characters (ESC, CR, newlines, C1) and bidi overrides are shown as \uXXXX escapes.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The message of anything thrown, on one line. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
}
