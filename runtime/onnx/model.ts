/**
 * Reading and writing ONNX models (onnx-buf: byte-identical round trips, unknown fields kept).
 * Every problem with an input model becomes one `OnnxError` with a one-line message; writes
 * are atomic (temp file + rename) and leave nothing behind on failure. External data: tensors
 * stored beside the model are checked on load, copied when the output goes to another folder,
 * and a model whose protobuf would pass 2 GB has its large initializers moved to `<out>.data`.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto, type TensorProto } from 'onnx-buf';
import { randomBytes } from 'node:crypto';
import { copyFile, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';

/** A problem with an input model or its files (the CLI exits 1 with the message on one line). */
export class OnnxError extends Error {
  override name = 'OnnxError';
}

/** Newest default-domain opset this gratc knows (onnxruntime 1.30 runs up to here). */
export const MAX_KNOWN_OPSET = 24;
/** Protobuf's hard limit; onnxruntime refuses bigger model files. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** External data segments start on this alignment (as onnx's own writer does). */
const ALIGN = 4096;

export interface LoadedModel {
  readonly model: ModelProto;
  /** Folder external data locations are relative to. */
  readonly dir: string;
  readonly path: string;
  readonly bytes: number;
}

const describeErr = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EISDIR') return 'is a directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  return (err.message ?? String(e)).split('\n')[0];
};

/** Every tensor of the main graph and its subgraphs (initializers and Constant values). */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  const graphs = model.graph ? [model.graph] : [];
  while (graphs.length > 0) {
    const g = graphs.pop()!;
    yield* g.initializer;
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) yield a.t;
        yield* a.tensors;
        if (a.g) graphs.push(a.g);
        graphs.push(...a.graphs);
      }
    }
  }
}

const extEntry = (t: TensorProto, key: string): string | undefined => t.externalData.find((e) => e.key === key)?.value;

/** The external data file of a tensor, resolved and confined to the model's folder. */
function externalPath(t: TensorProto, dir: string): string {
  const loc = extEntry(t, 'location');
  if (!loc) throw new OnnxError(`tensor '${t.name}' is marked external but names no location`);
  const p = normalize(loc);
  if (isAbsolute(p) || p === '..' || p.startsWith(`..${sep}`)) throw new OnnxError(`tensor '${t.name}': external data location '${loc}' is outside the model's folder`);
  return join(dir, p);
}

export function parseModel(bytes: Uint8Array, shownAs: string): ModelProto {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new OnnxError(`'${shownAs}' is not a valid ONNX model (truncated or corrupt protobuf: ${describeErr(e)})`);
  }
  if (!model.graph || model.irVersion <= 0n) throw new OnnxError(`'${shownAs}' is not a valid ONNX model (no graph or IR version)`);
  const dflts = model.opsetImport.filter((o) => o.domain === '' || o.domain === 'ai.onnx');
  const dflt = dflts[0];
  if (!dflt) throw new OnnxError(`'${shownAs}' imports no default ONNX opset`);
  if (dflts.some((o) => o.version !== dflt.version)) throw new OnnxError(`'${shownAs}' imports the default ONNX opset more than once, at versions ${dflts.map((o) => String(o.version)).join(' and ')}`);
  const v = Number(dflt.version);
  if (v < 1 || v > MAX_KNOWN_OPSET) throw new OnnxError(`'${shownAs}' uses ONNX opset ${v}, which gratc does not know (1 to ${MAX_KNOWN_OPSET})`);
  return model;
}

/** Reads and checks a model file; external data files must exist and be long enough. */
export async function loadModel(path: string, shownAs = path): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new OnnxError(`cannot read '${shownAs}': ${describeErr(e)}`);
  }
  const model = parseModel(bytes, shownAs);
  const dir = dirname(resolve(path));
  const sizes = new Map<string, number>();
  for (const t of allTensors(model)) {
    if (t.dataLocation !== 1) continue;
    const file = externalPath(t, dir);
    if (!sizes.has(file)) {
      try {
        sizes.set(file, (await stat(file)).size);
      } catch {
        throw new OnnxError(`'${shownAs}': external data file '${extEntry(t, 'location')}' of tensor '${t.name}' is missing`);
      }
    }
    if (file === resolve(path)) throw new OnnxError(`'${shownAs}': tensor '${t.name}' names the model file itself as its external data`);
    // offset and length: decimal integers >= 0 (onnx writes them so); the length, when given, must be the tensor's size
    const number = (key: 'offset' | 'length'): number | undefined => {
      const v = extEntry(t, key);
      if (v === undefined) return undefined;
      if (!/^\d{1,16}$/.test(v.trim())) throw new OnnxError(`'${shownAs}': tensor '${t.name}' has external data ${key} '${v}', which is not a non-negative integer`);
      return Number(v.trim());
    };
    const offset = number('offset') ?? 0, given = number('length');
    const want = tensorBytes(t);
    if (want !== null && given !== undefined && given !== want) {
      throw new OnnxError(`'${shownAs}': tensor '${t.name}' declares ${given} bytes of external data, but its type and shape need ${want}`);
    }
    const length = given ?? want;
    if (offset + (length ?? 0) > sizes.get(file)!) {
      throw new OnnxError(`'${shownAs}': external data file '${extEntry(t, 'location')}' is too short for tensor '${t.name}' (truncated?)`);
    }
  }
  return { model, dir, path, bytes: bytes.length };
}

/** Bytes per element of the fixed-size ONNX element types (4- and 2-bit types are packed). */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
  17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5, 23: 0.5, 24: 1, 25: 0.25, 26: 0.25,
};

/** The payload size a tensor's type and dims imply, or null when unknown (strings, bad dims). */
function tensorBytes(t: TensorProto): number | null {
  const per = ELEMENT_BYTES[t.dataType];
  if (per === undefined || t.dims.some((d) => d < 0n)) return null;
  const n = t.dims.reduce((a, d) => a * Number(d), 1);
  return Number.isSafeInteger(n) ? Math.ceil(n * per) : null;
}

/** Approximate protobuf size of the tensor payloads (what decides external data). */
function payloadBytes(t: TensorProto): number {
  return t.rawData.length + 4 * (t.floatData.length + t.int32Data.length) + 8 * (t.int64Data.length + t.doubleData.length + t.uint64Data.length);
}

export interface SaveOptions {
  /** Folder the model's existing external data locations are relative to (the input's). */
  readonly sourceDir?: string;
  /** Move initializers to external data when the protobuf would exceed this (default: 2 GB less 64 MB). */
  readonly externalThreshold?: number;
  /** Only initializers at least this big move out (default 1 KB). */
  readonly externalMinTensor?: number;
}

export interface SaveResult {
  readonly path: string;
  readonly bytes: number;
  /** External data files written or copied beside the output. */
  readonly externalFiles: readonly string[];
}

/**
 * Writes a model atomically: every file goes to a temp name first and is renamed only when all
 * were written; on any failure the temps are removed and nothing is left behind.
 */
export async function saveModel(model: ModelProto, outPath: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const out = resolve(outPath), outDir = dirname(out);
  const threshold = opts.externalThreshold ?? PROTOBUF_LIMIT - 64 * 2 ** 20;
  const minTensor = opts.externalMinTensor ?? 1024;
  const temps: [string, string][] = []; // [temp, final]
  const tmpFor = (final: string): string => {
    const tmp = join(dirname(final), `.${basename(final)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    temps.push([tmp, final]);
    return tmp;
  };
  try {
    // existing external data: copy the files when the output goes to another folder
    const copied = new Set<string>();
    const src = opts.sourceDir ? resolve(opts.sourceDir) : outDir;
    for (const t of allTensors(model)) {
      if (t.dataLocation !== 1) continue;
      const from = externalPath(t, src), to = externalPath(t, outDir);
      if (from === to || copied.has(to)) continue;
      if (to === out) throw new OnnxError(`external data location '${extEntry(t, 'location')}' would overwrite the output model`);
      copied.add(to);
      await copyFile(from, tmpFor(to));
    }
    // too big for one protobuf: move the largest initializers out, biggest first
    const inits = [...(model.graph?.initializer ?? [])].filter((t) => t.dataLocation !== 1 && payloadBytes(t) >= minTensor);
    let total = [...allTensors(model)].reduce((n, t) => n + payloadBytes(t), 0) + 4 * 2 ** 20;
    const written: string[] = [];
    const moved = new Map<TensorProto, TensorProto>(); // the caller's model is never changed: moved tensors are copies
    if (total > threshold) {
      const dataName = `${basename(out)}.data`;
      const dataPath = join(outDir, dataName);
      if (copied.has(dataPath)) throw new OnnxError(`external data file '${dataName}' is already used by the input model`);
      const fh = await open(tmpFor(dataPath), 'w');
      try {
        let offset = 0;
        for (const t of inits.sort((a, b) => payloadBytes(b) - payloadBytes(a))) {
          if (total <= threshold) break;
          const raw = rawBytes(t);
          if (!raw) continue;
          const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
          offset += pad;
          await fh.write(raw, 0, raw.length, offset);
          total -= payloadBytes(t);
          moved.set(t, {
            ...t, rawData: new Uint8Array(0), floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], dataLocation: 1,
            externalData: [['location', dataName], ['offset', String(offset)], ['length', String(raw.length)]]
              .map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
          });
          offset += raw.length;
        }
      } finally {
        await fh.close();
      }
      written.push(dataPath);
    }
    const outModel: ModelProto = moved.size === 0 ? model
      : { ...model, graph: { ...model.graph!, initializer: model.graph!.initializer.map((t) => moved.get(t) ?? t) } };
    const bytes = toBinary(ModelProtoSchema, outModel);
    if (bytes.length > PROTOBUF_LIMIT) throw new OnnxError('the patched model is still over 2 GB after moving initializers to external data');
    await writeFile(tmpFor(out), bytes);
    for (const [tmp, final] of temps) await rename(tmp, final);
    temps.length = 0;
    return { path: out, bytes: bytes.length, externalFiles: [...copied, ...written] };
  } catch (e) {
    await Promise.all(temps.map(([tmp]) => unlink(tmp).catch(() => undefined)));
    if (e instanceof OnnxError) throw e;
    throw new OnnxError(`cannot write '${outPath}': ${describeErr(e)}`);
  }
}

/** A tensor's payload as little-endian bytes (what raw_data / external data hold). */
function rawBytes(t: TensorProto): Uint8Array | null {
  if (t.rawData.length > 0) return t.rawData;
  if (t.floatData.length > 0) return new Uint8Array(Float32Array.from(t.floatData).buffer);
  if (t.int64Data.length > 0) return new Uint8Array(BigInt64Array.from(t.int64Data).buffer);
  if (t.doubleData.length > 0) return new Uint8Array(Float64Array.from(t.doubleData).buffer);
  return null; // int32_data holds several element types packed differently: left inline
}
