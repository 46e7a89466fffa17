/** esbuild-style one-line expectations: the first line of each rendered diagnostic (schedules checked as the CLI does). */
import { checkSource } from '../../compiler/check.js';
import type { CheckOptions } from '../../compiler/index.js';
import { SCHEDULE_KEYS } from '../../codegen/targets.js';
import { renderDiagnostic } from '../../dsl/render.js';

export function checkMessages(text: string, options: CheckOptions = {}): string[] {
  const { diagnostics } = checkSource(text, { schedules: SCHEDULE_KEYS, ...options });
  return diagnostics.map((d) => renderDiagnostic(d, { path: 'x.grat', text }).split('\n')[0]);
}

export function checkFull(text: string, options: CheckOptions = {}): string {
  const { diagnostics } = checkSource(text, { schedules: SCHEDULE_KEYS, ...options });
  return diagnostics.map((d) => renderDiagnostic(d, { path: 'x.grat', text })).join('\n');
}
