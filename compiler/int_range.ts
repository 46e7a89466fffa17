/**
 * Integer ranges of predicate sub-expressions over a bound grid: the checker's proof that every
 * value a predicate computes fits the kernels' 32-bit integers (docs/language.md, "Integers").
 * Exact (bigint) interval arithmetic, one function per operator, each a sound hull of the
 * operator's values over its operands' ranges. The semantics mirrored are compiler/predicate.ts:
 * `/` and `%` floor, a zero divisor gives 0.
 */

/** Inclusive [lo, hi], lo <= hi. */
export type IntRange = readonly [bigint, bigint];

/**
 * The largest magnitude a predicate value may have. Symmetric on purpose: without -2^31, `-x`,
 * `|x|`, `x / -1` and C's `x % -1` cannot overflow either, in any backend.
 */
export const INT_LIMIT = 2n ** 31n - 1n;

export const fits = (r: IntRange): boolean => r[0] >= -INT_LIMIT && r[1] <= INT_LIMIT;

export const constant = (v: number | bigint): IntRange => [BigInt(v), BigInt(v)];

/** A coordinate `q`/`k` (0..n-1), a delta `d` = k - q, or the group count `n`, for n in [nLo, nHi] groups. */
export function varRange(ref: 'q' | 'k' | 'd' | 'n', nLo: number, nHi: number): IntRange {
  const top = BigInt(nHi) - 1n;
  switch (ref) {
    case 'q': case 'k': return [0n, top];
    case 'd': return [-top, top];
    case 'n': return [BigInt(nLo), BigInt(nHi)];
  }
}

const min = (...xs: bigint[]): bigint => xs.reduce((a, b) => (b < a ? b : a));
const max = (...xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a));
const hull = (rs: IntRange[]): IntRange => [min(...rs.map((r) => r[0])), max(...rs.map((r) => r[1]))];

/** Floor division as compiler/predicate.ts (b != 0 here). */
export const floorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b; // truncates
  return q * b !== a && (a < 0n) !== (b < 0n) ? q - 1n : q;
};
export const floorMod = (a: bigint, b: bigint): bigint => a - b * floorDiv(a, b);

/** The divisor's range split into its negative part, its positive part and whether it holds 0. */
function divisorParts(b: IntRange): { parts: IntRange[]; zero: boolean } {
  const parts: IntRange[] = [];
  if (b[0] <= -1n) parts.push([b[0], min(b[1], -1n)]);
  if (b[1] >= 1n) parts.push([max(b[0], 1n), b[1]]);
  return { parts, zero: b[0] <= 0n && b[1] >= 0n };
}

export function unaryRange(op: 'neg' | 'abs', a: IntRange): IntRange {
  if (op === 'neg') return [-a[1], -a[0]];
  if (a[0] >= 0n) return a;
  if (a[1] <= 0n) return [-a[1], -a[0]];
  return [0n, max(-a[0], a[1])];
}

export function binaryRange(op: '+' | '-' | '*' | '/' | '%' | 'min' | 'max', a: IntRange, b: IntRange): IntRange {
  switch (op) {
    case '+': return [a[0] + b[0], a[1] + b[1]];
    case '-': return [a[0] - b[1], a[1] - b[0]];
    case '*': {
      const c = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]];
      return [min(...c), max(...c)];
    }
    case 'min': return [min(a[0], b[0]), min(a[1], b[1])];
    case 'max': return [max(a[0], b[0]), max(a[1], b[1])];
    case '/': {
      // for a divisor of one sign, floor(a / b) is monotone in a and in b: the corners bound it
      const { parts, zero } = divisorParts(b);
      const rs = parts.map((p) => {
        const c = [floorDiv(a[0], p[0]), floorDiv(a[0], p[1]), floorDiv(a[1], p[0]), floorDiv(a[1], p[1])];
        return [min(...c), max(...c)] as IntRange;
      });
      return hull(zero ? [...rs, [0n, 0n]] : rs);
    }
    case '%': {
      // floor modulo takes the divisor's sign and is smaller than it; a dividend of that sign bounds it too
      const { parts, zero } = divisorParts(b);
      const rs = parts.map((p): IntRange => (p[0] > 0n
        ? [0n, a[0] >= 0n ? min(p[1] - 1n, a[1]) : p[1] - 1n]
        : [a[1] <= 0n ? max(p[0] + 1n, a[0]) : p[0] + 1n, 0n]));
      return hull(zero ? [...rs, [0n, 0n]] : rs);
    }
  }
}

/** `[-3, 3]`, `12,884,901,888`: a range as a message shows it. */
export const showRange = (r: IntRange): string => {
  const n = (x: bigint) => x.toLocaleString('en-US');
  return r[0] === r[1] ? n(r[0]) : `${n(r[0])} to ${n(r[1])}`;
};
