/**
 * What a .grat file states, read from its syntax tree rather than the checked IR (which fills in
 * defaults: dtype bf16, scale 1/sqrt(head_dim)). `demo` builds its model to fit the sizes a
 * pattern fixes; `patch` warns when the model's head_dim, dtype or scale differ from the values
 * the pattern states (the model's win).
 */
import { parse } from '../dsl/parse.js';
import type { Statement, WordStmt } from '../dsl/ast.js';
import type { Span } from '../dsl/span.js';
import { diag, type Diagnostic } from '../dsl/diagnostics.js';

export interface Stated {
  /** Grid sizes, outermost first; null for `?`. Null when the file has no grid statement. */
  readonly grid: { readonly sizes: readonly (number | null)[]; readonly span: Span } | null;
  /** Text count (null for `?`), or null without a text statement. */
  readonly text: { readonly count: number | null; readonly span: Span } | null;
  readonly headDim: { readonly value: number; readonly span: Span } | null;
  readonly dtype: { readonly value: string; readonly span: Span } | null;
  readonly scale: { readonly value: number; readonly span: Span } | null;
}

/** The first statement of each kind (the checker reports duplicates). */
export function statedIn(text: string): Stated {
  const st = parse(text).file.statements;
  const first = <K extends Statement['kind']>(kind: K): Extract<Statement, { kind: K }> | undefined =>
    st.find((s): s is Extract<Statement, { kind: K }> => s.kind === kind);
  // `dtype` shares WordStmt with `order` and `border`
  const dt = st.find((s): s is WordStmt => s.kind === 'dtype');
  const grid = first('grid'), txt = first('text'), hd = first('head_dim'), sc = first('scale');
  return {
    grid: grid ? { sizes: grid.dims.map((d) => (d.value.kind === 'int' ? d.value.value : null)), span: grid.span } : null,
    text: txt ? { count: txt.count.kind === 'int' ? txt.count.value : null, span: txt.count.span } : null,
    headDim: hd ? { value: hd.value.value, span: hd.value.span } : null,
    dtype: dt ? { value: dt.value.name, span: dt.value.span } : null,
    scale: sc ? { value: sc.value.value, span: sc.value.span } : null,
  };
}

/** A stated value `patch` does not use, and the model's values it uses instead. */
export const MODEL_WINS = 'W0801';

/** What the patched attentions of a model have (distinct values; null where unknown). */
export interface ModelNumerics {
  readonly headDims: readonly (number | null)[];
  readonly dtypes: readonly (string | null)[];
  readonly scales: readonly (number | null)[];
}

const HINT = 'gratc patch keeps the model\'s head_dim, dtype and scale: it changes only which keys each query sees';
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b));
const list = <T>(xs: readonly (T | null)[], show: (x: T) => string): string => [...new Set(xs.filter((x): x is T => x !== null).map(show))].join(', ');

/**
 * W0801 warnings, on the stated value's span, for each of head_dim, dtype and scale the pattern
 * states and some patched attention of the model does not have.
 */
export function modelWinsWarnings(stated: Stated, model: ModelNumerics): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { headDim, dtype, scale } = stated;
  if (headDim && model.headDims.some((h) => h !== null && h !== headDim.value)) {
    out.push(diag(MODEL_WINS, `head_dim ${headDim.value} is not used: the model's attention has head_dim ${list(model.headDims, String)}`, headDim.span, { hint: HINT }));
  }
  if (dtype && model.dtypes.some((d) => d !== null && d !== dtype.value)) {
    out.push(diag(MODEL_WINS, `dtype ${dtype.value} is not used: the model's attention computes in ${list(model.dtypes, String)}`, dtype.span, { hint: HINT }));
  }
  if (scale && model.scales.some((s) => s !== null && !close(s, scale.value))) {
    out.push(diag(MODEL_WINS, `scale ${scale.value} is not used: the model's attention scales by ${list(model.scales, (s) => String(Number(s.toPrecision(6))))}`, scale.span, { hint: HINT }));
  }
  // the hint once: the three say the same thing
  return out.map((d, i) => (i === 0 ? d : { ...d, hint: undefined }));
}
