/**
 * Reading and writing ONNX models (onnx-buf: byte-identical round trips, unknown fields kept).
 * Every problem with an input model becomes one `OnnxError` with a one-line message. Files go
 * through runtime/files.ts: the model is a regular file of at most 2 GB; each external data file
 * must resolve, through any symlink, to a regular file inside the model's folder. Writes are one
 * transaction (temp files, then renames; nothing left behind on failure) that never lands on a
 * file the run reads. External data: kept in place when the output goes to the input's folder;
 * otherwise every external tensor is copied into `<out>.data`, named after the output so two
 * outputs in one folder never share (or overwrite) a data file. A model whose protobuf would pass
 * 2 GB has its large initializers moved to `<out>.data` too.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, type ModelProto, type TensorProto } from 'onnx-buf';
import { lstat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { FileError, openInside, Outputs, readAt, readInput, sameFile, sameFolder, type FileId, type OpenedFile, type Written } from '../files.js';

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
  /** The model file and every external data file it names: what a command using it reads. */
  readonly files: readonly { readonly id: FileId; readonly shownAs: string }[];
}

/** A protobuf decoding error's first line. */
const describeErr = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

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

/** A tensor's external data location, normalized; as text it must stay in the model's folder. */
function externalLocation(t: TensorProto): string {
  const loc = extEntry(t, 'location');
  if (!loc) throw new OnnxError(`tensor '${t.name}' is marked external but names no location`);
  const p = normalize(loc);
  if (isAbsolute(p) || p === '..' || p.startsWith(`..${sep}`)) throw new OnnxError(`tensor '${t.name}': external data location '${loc}' is outside the model's folder`);
  return p;
}

/**
 * Opens a tensor's external data file under `dir` (runtime/files.ts: a regular file that
 * resolves inside the folder; a FIFO, a device or a symlink out of the folder is refused).
 */
async function openExternal(t: TensorProto, dir: string, shownAs: string): Promise<OpenedFile & { real: string }> {
  const loc = externalLocation(t);
  try {
    return await openInside(dir, loc, loc, "resolves (through a symbolic link) to outside the model's folder");
  } catch (e) {
    // "… of tensor 'w' is missing", "… is a FIFO, not a regular file", "…: permission denied"
    if (e instanceof FileError) throw new OnnxError(`'${shownAs}': external data file '${extEntry(t, 'location')}' of tensor '${t.name}'${/^(is|resolves) /.test(e.why) ? ' ' : ': '}${e.why}`);
    throw e;
  }
}

/** The external data files of a model's tensors, each opened once (by normalized location). */
class ExternalFiles {
  private readonly open = new Map<string, OpenedFile & { real: string }>();
  constructor(private readonly dir: string, private readonly shownAs: string) {}
  async get(t: TensorProto): Promise<OpenedFile & { real: string }> {
    const loc = externalLocation(t);
    let f = this.open.get(loc);
    if (!f) {
      f = await openExternal(t, this.dir, this.shownAs);
      this.open.set(loc, f);
    }
    return f;
  }
  get files(): readonly (OpenedFile & { real: string; loc: string })[] {
    return [...this.open].map(([loc, f]) => ({ ...f, loc }));
  }
  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((f) => f.fh.close()));
    this.open.clear();
  }
}

/** Offset and length of a tensor's external data: decimal integers >= 0 (onnx writes them so). */
function extentOf(t: TensorProto, fileSize: number, shownAs: string): { offset: number; length: number } {
  const number = (key: 'offset' | 'length'): number | undefined => {
    const v = extEntry(t, key);
    if (v === undefined) return undefined;
    if (!/^\d{1,16}$/.test(v.trim())) throw new OnnxError(`'${shownAs}': tensor '${t.name}' has external data ${key} '${v}', which is not a non-negative integer`);
    return Number(v.trim());
  };
  const offset = number('offset') ?? 0, given = number('length');
  const want = tensorBytes(t);
  // the length, when given, must be the tensor's size
  if (want !== null && given !== undefined && given !== want) {
    throw new OnnxError(`'${shownAs}': tensor '${t.name}' declares ${given} bytes of external data, but its type and shape need ${want}`);
  }
  const length = given ?? want ?? Math.max(0, fileSize - offset); // no length: to the end of the file, as onnx reads it
  if (offset + length > fileSize) {
    throw new OnnxError(`'${shownAs}': external data file '${extEntry(t, 'location')}' is too short for tensor '${t.name}' (truncated?)`);
  }
  return { offset, length };
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

/** Largest model file read: protobuf's limit (onnxruntime refuses bigger ones). */
const MODEL_CAP = { bytes: PROTOBUF_LIMIT, what: 'an ONNX model file' };

/**
 * Reads and checks a model file (a regular file of at most 2 GB); its external data files must
 * be regular files inside its folder, long enough for their tensors (they are not read).
 */
export async function loadModel(path: string, shownAs = path): Promise<LoadedModel> {
  let read: { bytes: Buffer; id: FileId };
  try {
    read = await readInput(path, shownAs, MODEL_CAP);
  } catch (e) {
    if (e instanceof FileError) throw new OnnxError(e.message);
    throw e;
  }
  const model = parseModel(read.bytes, shownAs);
  const dir = dirname(resolve(path));
  const files: { id: FileId; shownAs: string }[] = [{ id: read.id, shownAs }];
  const ext = new ExternalFiles(dir, shownAs);
  try {
    for (const t of allTensors(model)) {
      if (t.dataLocation !== 1) continue;
      const f = await ext.get(t);
      if (sameFile(f.id, read.id)) throw new OnnxError(`'${shownAs}': tensor '${t.name}' names the model file itself as its external data`);
      extentOf(t, f.size, shownAs);
    }
    files.push(...ext.files.map((f) => ({ id: f.id, shownAs: f.loc })));
  } finally {
    await ext.close();
  }
  return { model, dir, path, bytes: read.bytes.length, files };
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
  /** The model the output was made from: its external data is found in its folder, and none of its files is written. */
  readonly source?: LoadedModel;
  /** Move initializers to external data when the protobuf would exceed this (default: 2 GB less 64 MB). */
  readonly externalThreshold?: number;
  /** Only initializers at least this big move out (default 1 KB). */
  readonly externalMinTensor?: number;
  /** The command's outputs (runtime/files.ts), to share its inputs and transaction; default: a new one. */
  readonly outputs?: Outputs;
  /** The output path as shown in messages (default: `outPath`); the data file is shown beside it. */
  readonly shownAs?: string;
}

export interface SaveResult {
  readonly path: string;
  readonly bytes: number;
  /** External data files written beside the output (at most one: `<out>.data`). */
  readonly externalFiles: readonly string[];
  /** Every file written, in order: the data file (if any), then the model. */
  readonly written: readonly Written[];
}

/** Copies are made in pieces of this size (a multi-GB tensor is never held whole). */
const COPY_CHUNK = 16 * 2 ** 20;

/** A piece of `<out>.data`: bytes of a source file, or a moved initializer's payload. */
type Segment = { readonly offset: number; readonly length: number } & ({ readonly from: OpenedFile; readonly at: number; readonly loc: string } | { readonly raw: Uint8Array });

/** Runs `f` with fields of some tensors replaced, then puts them back (the caller's model is left as it was). */
function withFields<T>(swaps: ReadonlyMap<TensorProto, Partial<TensorProto>>, f: () => T): T {
  const old = [...swaps].map(([t, patch]) => [t, Object.fromEntries(Object.keys(patch).map((k) => [k, t[k as keyof TensorProto]]))] as const);
  for (const [t, patch] of swaps) Object.assign(t, patch);
  try {
    return f();
  } finally {
    for (const [t, fields] of old) Object.assign(t, fields);
  }
}

const externalEntries = (location: string, offset: number, length: number): TensorProto['externalData'] =>
  [['location', location], ['offset', String(offset)], ['length', String(length)]].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));

/**
 * Writes a model (see the module comment). Every file goes to a temp name first and is renamed
 * only when all were written; on any failure the temps are removed and nothing is replaced.
 * `<out>.data` replaces an existing file only when it replaces the model `<out>` too (a data file
 * beside no model of that name is someone else's).
 */
export async function saveModel(model: ModelProto, outPath: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const out = resolve(outPath), outDir = dirname(out), shown = opts.shownAs ?? outPath;
  const dataName = `${basename(out)}.data`, dataPath = join(outDir, dataName), dataShown = join(dirname(shown), dataName);
  const threshold = opts.externalThreshold ?? PROTOBUF_LIMIT - 64 * 2 ** 20;
  const minTensor = opts.externalMinTensor ?? 1024;
  const outputs = opts.outputs ?? new Outputs();
  const srcDir = opts.source?.dir ?? outDir; // without a source, existing external data lies beside the output
  for (const f of opts.source?.files ?? []) outputs.input(f.id, f.shownAs);
  const ext = new ExternalFiles(srcDir, opts.source?.path ?? shown);
  try {
    const swaps = new Map<TensorProto, Partial<TensorProto>>();
    const segments: Segment[] = [];
    let end = 0;
    const place = (length: number): number => {
      const offset = end + ((ALIGN - (end % ALIGN)) % ALIGN); // segments start aligned, as onnx's own writer does
      end = offset + length;
      return offset;
    };
    // existing external data: every file opened (checked again, and never written over); copied
    // into <out>.data, tensor by tensor, when the output goes to another folder
    const external = [...allTensors(model)].filter((t) => t.dataLocation === 1);
    for (const t of external) await ext.get(t);
    for (const f of ext.files) outputs.input(f.id, f.loc);
    if (external.length > 0 && !(await sameFolder(srcDir, outDir))) {
      const copied = new Map<string, number>(); // one copy of each (file, offset, length)
      for (const t of external) {
        const f = await ext.get(t);
        const { offset: at, length } = extentOf(t, f.size, shown);
        const key = `${f.real}\0${at}\0${length}`;
        let offset = copied.get(key);
        if (offset === undefined) {
          offset = place(length);
          copied.set(key, offset);
          segments.push({ offset, length, from: f, at, loc: externalLocation(t) });
        }
        swaps.set(t, { externalData: externalEntries(dataName, offset, length) });
      }
    }
    // too big for one protobuf: move the largest initializers out, biggest first
    const inits = [...(model.graph?.initializer ?? [])].filter((t) => t.dataLocation !== 1 && payloadBytes(t) >= minTensor);
    let total = [...allTensors(model)].reduce((n, t) => n + payloadBytes(t), 0) + 4 * 2 ** 20;
    for (const t of inits.sort((a, b) => payloadBytes(b) - payloadBytes(a))) {
      if (total <= threshold) break;
      const raw = rawBytes(t);
      if (!raw) continue;
      const offset = place(raw.length);
      segments.push({ offset, length: raw.length, raw });
      total -= payloadBytes(t);
      swaps.set(t, {
        rawData: new Uint8Array(0), floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [], dataLocation: 1,
        externalData: externalEntries(dataName, offset, raw.length),
      });
    }
    const bytes = withFields(swaps, () => toBinary(ModelProtoSchema, model));
    if (bytes.length > PROTOBUF_LIMIT) throw new OnnxError('the patched model is still over 2 GB after moving initializers to external data');

    await outputs.transaction(async (o) => {
      if (segments.length > 0) {
        const outIsFile = (await lstat(out).catch(() => null))?.isFile() === true;
        await o.stage(dataPath, dataShown, async (fh) => {
          for (const s of segments) {
            if ('raw' in s) { await fh.write(s.raw, 0, s.length, s.offset); continue; }
            for (let done = 0; done < s.length; done += COPY_CHUNK) {
              const n = Math.min(COPY_CHUNK, s.length - done);
              await fh.write(await readAt(s.from, s.at + done, n, s.loc), 0, n, s.offset + done);
            }
          }
          return end;
        }, outIsFile ? {} : { mustBeNew: `it exists, but no model '${shown}' does (gratc replaces a data file only with its model); remove it or choose another output name` });
      }
      await o.stage(out, shown, bytes);
    });
    return { path: out, bytes: bytes.length, externalFiles: segments.length > 0 ? [dataPath] : [], written: outputs.written.filter((w) => w.path === out || w.path === dataPath) };
  } finally {
    await ext.close();
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
