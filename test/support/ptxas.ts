/**
 * What the nvcc tests refuse in `nvcc -Xptxas -v` output, defined once: spills and stack frames
 * (every `N bytes stack frame, S bytes spill stores, L bytes spill loads` line must be all zeros,
 * and there must be one), compile errors, and with `strict` any warning (nvcc's front end, e.g.
 * #177-D 'declared but never referenced', or ptxas') and serialized wgmma (C7510-C7515).
 */
export function ptxasProblems(out: string, opts: { strict?: boolean } = {}): string[] {
  const p: string[] = [];
  const re = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/g;
  let m: RegExpExecArray | null, seen = 0;
  while ((m = re.exec(out))) {
    seen++;
    if (m[1] !== '0' || m[2] !== '0' || m[3] !== '0') p.push(m[0]);
  }
  if (seen === 0) p.push('no ptxas resource report found');
  if (/\berror\b/i.test(out)) p.push('compile error');
  if (!opts.strict) return p;
  const warnings = out.split('\n').filter((l) => /\bwarning\b/i.test(l));
  if (warnings.length > 0) p.push(`warnings: ${warnings.slice(0, 3).join(' | ').slice(0, 400)}`);
  const serial = /\(C751[0-5]\)[^\n]*/.exec(out);
  if (serial) p.push(`wgmma serialized: ${serial[0].slice(0, 160)}`);
  return p;
}
