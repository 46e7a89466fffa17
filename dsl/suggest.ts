/** "Did you mean" support: the nearest candidate by edit distance, if it is close enough to help. */

/** Optimal-string-alignment distance: Levenshtein plus adjacent swaps, so `grdi` is 1 from `grid`. */
export const editDistance = (a: string, b: string): number => {
  const m = a.length;
  const n = b.length;
  // Three rolling rows: the swap rule looks two rows back.
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = new Array<number>(n + 1);
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      cur[j] = d;
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n];
};

/** The candidate nearest to `word`, or undefined when none is within about a third of its length. */
export const nearest = (word: string, candidates: readonly string[]): string | undefined => {
  // Long garbage words cannot be close to a short keyword; skip the quadratic work.
  if (word.length > 64) return undefined;
  const limit = Math.max(1, Math.ceil(word.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return bestD <= limit ? best : undefined;
};
