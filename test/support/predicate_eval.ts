/**
 * An evaluator of typed predicates written for the tests, independent of compiler/predicate.ts:
 * mathematical integers, floor `/` and `%`, a zero divisor gives 0 (docs/language.md).
 * `q`, `k` are group coordinates, `n` the groups per axis; `d` is k - q.
 */
import type { BoolExpr, IntExpr } from '../../compiler/ir.js';

type Coords = readonly number[];

export const evalInt = (e: IntExpr, q: Coords, k: Coords, n: Coords): number => {
  switch (e.op) {
    case 'int': return e.value;
    case 'var': return e.ref === 'q' ? q[e.axis] : e.ref === 'k' ? k[e.axis] : e.ref === 'n' ? n[e.axis] : k[e.axis] - q[e.axis];
    case 'neg': return -evalInt(e.a, q, k, n);
    case 'abs': return Math.abs(evalInt(e.a, q, k, n));
  }
  const a = evalInt(e.a, q, k, n), b = evalInt(e.b, q, k, n);
  switch (e.op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return b === 0 ? 0 : Math.floor(a / b);
    case '%': return b === 0 ? 0 : ((a % b) + b) % b;
    case 'min': return Math.min(a, b);
    case 'max': return Math.max(a, b);
  }
};

export const evalBool = (e: BoolExpr, q: Coords, k: Coords, n: Coords): boolean => {
  switch (e.op) {
    case 'bool': return e.value;
    case 'not': return !evalBool(e.a, q, k, n);
    case '&&': return evalBool(e.a, q, k, n) && evalBool(e.b, q, k, n);
    case '||': return evalBool(e.a, q, k, n) || evalBool(e.b, q, k, n);
  }
  const a = evalInt(e.a, q, k, n), b = evalInt(e.b, q, k, n);
  switch (e.op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
};
