/**
 * Backends by target. codegen/all.ts fills it with the build's explicit list; tests may replace
 * a target's backend with a stand-in (`registerBackend`).
 */
import type { Target } from './targets.js';
import type { Backend } from './backend.js';

const backends = new Map<Target, Backend>();

export function registerBackend(b: Backend): void {
  backends.set(b.target, b);
}

export function backendFor(target: Target): Backend | undefined {
  return backends.get(target);
}

export function knownBackends(): Backend[] {
  return [...backends.values()];
}
