/**
 * Test-only: rewrites the WGSL of the subgroup-matrix variant so that a device without subgroup
 * matrices runs it (lavapipe). A subgroup matrix is spread over the kernel's subgroup of 32
 * invocations as hardware does: lane l holds elements e = l + 32 i (row e / 16, column e % 16) in
 * an `array<f32, 8>`; loads and stores read and write the workgroup arrays with the layout the
 * builtins define (row-major: offset + r * stride + c, column-major: offset + c * stride + r); a
 * product goes through 2 KiB of workgroup scratch per subgroup (8 KiB in all: with the kernel's
 * 24 KiB, lavapipe's 32 KiB), exact f16 x f16 products summed in f32. `sg` becomes lid / 32: the
 * kernel's 4 subgroups of 32, whatever the device's subgroups are.
 *
 * What this checks: everything the kernel does around the products (tile partition among the
 * subgroups, the strides and offsets it hands the builtins, barriers, two-pass softmax, masking,
 * text splits, the output slices). What it cannot: that a driver reads the builtins' operands the
 * same way (bench/webgpu/probe.ts checks one product per layout on the device).
 */

/** The shape the rewrite knows (the kernel's SUBGROUP_MATRIX): 16 x 16 x 16. */
const SIDE = 16;

export function emulateSubgroupMatrices(code: string): string {
  let out = code;
  const must = (re: RegExp, what: string): void => { if (!re.test(out)) throw new Error(`emulateSubgroupMatrices: no ${what} in the WGSL`); };
  must(/enable chromium_experimental_subgroup_matrix;\n/, 'enable directive');
  out = out.replace('enable chromium_experimental_subgroup_matrix;\n', '');
  must(/alias (QL|KR|AC) = subgroup_matrix_\w+<f\d+, 16, 16>;/, 'matrix aliases');
  out = out.replace(/alias (QL|KR|AC) = subgroup_matrix_\w+<f\d+, 16, 16>;/g, `alias $1 = array<f32, ${(SIDE * SIDE) / 32}>;`);
  must(/, @builtin\(subgroup_id\) sg: u32\) \{\n/, 'subgroup_id parameter');
  out = out.replace(/, @builtin\(subgroup_id\) sg: u32\) \{\n/, ') {\n  let sg = lid / 32u;\n  sm_sg = sg;\n  sm_lane = lid % 32u;\n');
  const loaded = new Set<string>(), stored = new Set<string>();
  out = out.replace(/subgroupMatrixLoad<(?:QL|KR), (row_major|col_major)>\(&(\w+), /g, (_m, major: string, buf: string) => {
    loaded.add(buf);
    return `sm_load_${buf}(${major === 'col_major'}, `;
  });
  out = out.replace(/subgroupMatrixStore<row_major>\(&(\w+), /g, (_m, buf: string) => {
    stored.add(buf);
    return `sm_store_${buf}(`;
  });
  out = out.replace(/subgroupMatrixMultiplyAccumulate\(/g, 'sm_mma(');
  if (/subgroupMatrix|subgroup_matrix/.test(out.replace(/\/\/.*$/gm, ''))) throw new Error('emulateSubgroupMatrices: a builtin is left');
  const N = SIDE * SIDE, PER = N / 32;
  const helpers = [
    'var<private> sm_sg: u32;',
    'var<private> sm_lane: u32;',
    `var<workgroup> sm_scratch: array<f32, ${4 * 2 * N}>;  // each subgroup's two operands of a product`,
    ...[...loaded].map((b) => `fn sm_load_${b}(col: bool, off: u32, stride: u32) -> array<f32, ${PER}> {
  var m: array<f32, ${PER}>;
  for (var i = 0u; i < ${PER}u; i++) {
    let e = sm_lane + 32u * i;
    let r = e / ${SIDE}u;
    let c = e % ${SIDE}u;
    m[i] = f32(${b}[select(off + r * stride + c, off + c * stride + r, col)]);
  }
  return m;
}`),
    ...[...stored].map((b) => `fn sm_store_${b}(off: u32, m: array<f32, ${PER}>, stride: u32) {
  var v = m;
  for (var i = 0u; i < ${PER}u; i++) {
    let e = sm_lane + 32u * i;
    ${b}[off + (e / ${SIDE}u) * stride + e % ${SIDE}u] = v[i];
  }
}`),
    `fn sm_mma(a: array<f32, ${PER}>, b: array<f32, ${PER}>, c: array<f32, ${PER}>) -> array<f32, ${PER}> {
  var ma = a;
  var mb = b;
  var d = c;
  let s0 = sm_sg * ${2 * N}u;
  for (var i = 0u; i < ${PER}u; i++) {
    let e = sm_lane + 32u * i;
    sm_scratch[s0 + e] = ma[i];
    sm_scratch[s0 + ${N}u + e] = mb[i];
  }
  workgroupBarrier();
  for (var i = 0u; i < ${PER}u; i++) {
    let e = sm_lane + 32u * i;
    let r = e / ${SIDE}u;
    let n = e % ${SIDE}u;
    var x = d[i];
    for (var k = 0u; k < ${SIDE}u; k++) { x = fma(sm_scratch[s0 + r * ${SIDE}u + k], sm_scratch[s0 + ${N}u + k * ${SIDE}u + n], x); }
    d[i] = x;
  }
  workgroupBarrier();
  return d;
}`,
  ].join('\n');
  // after the workgroup arrays the helpers read (declared before the first function)
  const at = out.indexOf('\nfn ');
  return `${out.slice(0, at)}\n${helpers}\n${out.slice(at)}`;
}
