/** Number formats the CLI's text summary and its pictures share. */

/** 11010048 → "11,010,048". */
export const int = (n: number): string => n.toLocaleString('en-US');

/** A fraction as a percentage with about three significant digits: 0.519 → "51.9%", 0.0012 → "0.12%". */
export const percent = (x: number): string => {
  const p = x * 100;
  return `${p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)}%`;
};
