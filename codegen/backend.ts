/**
 * What a code-generation target provides. A backend is a pure function from a checked IR to
 * files (text or bytes); the CLI writes them and the manifest. Backends validate their own
 * limits (e.g. supported head_dim) and report them as diagnostics, never by throwing.
 */
import type { Diagnostic } from '../dsl/diagnostics.js';
import type { PatternIR } from '../compiler/ir.js';
import type { Target } from './targets.js';

export interface EmittedFile {
  /** Relative path inside the output folder (validated: no `..`, no absolute paths). */
  readonly path: string;
  readonly contents: string | Uint8Array;
  /** What the file is, for the manifest: 'kernel', 'host', 'loader', 'types', 'model', ... */
  readonly role: string;
}

export interface EmitResult {
  readonly files: readonly EmittedFile[];
  readonly diagnostics: readonly Diagnostic[];
  /** Target-specific facts for the manifest (kernel names, specialization hash, tile sizes...). */
  readonly info: Readonly<Record<string, unknown>>;
}

export interface Backend {
  readonly target: Target;
  readonly description: string;
  /**
   * Whether it emits code that takes `?` sizes at launch (ir.runtime): `compile` leaves unbound
   * sizes to launch only for such a backend (else E0301/E0302 as before).
   */
  readonly runtimeSizes?: boolean;
  emit(ir: PatternIR): EmitResult;
}
