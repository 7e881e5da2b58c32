// Reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw bytes.
// Hugging Face checkpoints and our own prompt checkpoints both use it, so the model layer never needs Python.
import { readdirSync, rmSync } from 'node:fs';
import { readFile, rename, open, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { processAlive } from './process.ts';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Header entry as stored in the file. */
export interface TensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data section. */
  offsets: [number, number];
}

/**
 * A tensor decoded to a JS typed array: floats become Float32Array, integers Int32Array, U8/BOOL Uint8Array.
 * F32/I32 data may be a view into the file's buffer (no copy): copy it before mutating.
 */
export interface LoadedTensor {
  name: string;
  /** dtype in the file (before conversion). */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  infos: Map<string, TensorInfo>;
  /** Decode one tensor; throws an error naming it if it is absent or malformed. */
  get(name: string): LoadedTensor;
  names(): string[];
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Parse a safetensors buffer. `source` names the file in error messages. */
export function parseSafetensors(buf: Uint8Array, source = 'safetensors buffer'): SafetensorsFile {
  if (buf.byteLength < 8) throw new SafetensorsError(`${source}: too short to be a safetensors file (${buf.byteLength} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > buf.byteLength - 8 || headerLen > 100_000_000) {
    throw new SafetensorsError(`${source}: header length ${headerLen} exceeds file size ${buf.byteLength}; the file is truncated or not safetensors`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const infos = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      Object.assign(metadata, raw as Record<string, string>);
      continue;
    }
    const r = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!r || typeof r.dtype !== 'string' || !(r.dtype in BYTES)) {
      throw new SafetensorsError(`${source}: tensor "${name}" has unsupported dtype ${JSON.stringify(r?.dtype)} (supported: ${Object.keys(BYTES).join(', ')})`);
    }
    if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${source}: tensor "${name}" has an invalid shape ${JSON.stringify(r.shape)}`);
    }
    const off = r.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !(off[0] <= off[1]) || off[1] > dataLen) {
      throw new SafetensorsError(`${source}: tensor "${name}" has data_offsets ${JSON.stringify(off)} outside the ${dataLen}-byte data section (file truncated?)`);
    }
    const dtype = r.dtype as SafetensorsDtype;
    const expected = r.shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (off[1] - off[0] !== expected) {
      throw new SafetensorsError(`${source}: tensor "${name}" (${dtype} ${JSON.stringify(r.shape)}) should hold ${expected} bytes but its offsets span ${off[1] - off[0]}`);
    }
    infos.set(name, { dtype, shape: r.shape, offsets: [off[0], off[1]] });
  }

  const get = (name: string): LoadedTensor => {
    const info = infos.get(name);
    if (!info) throw new SafetensorsError(`${source}: tensor "${name}" is missing`);
    const bytes = buf.subarray(dataStart + info.offsets[0], dataStart + info.offsets[1]);
    return { name, dtype: info.dtype, shape: info.shape.slice(), data: decode(bytes, info.dtype, name, source) };
  };
  return { metadata, infos, get, names: () => [...infos.keys()] };
}

/**
 * The bytes as something a typed array of `elem`-byte items can view. Aligned data (the usual case: the
 * header is padded to 8 bytes) is viewed in place, without copying a checkpoint that may be gigabytes;
 * otherwise it is copied into a fresh buffer.
 */
function aligned(bytes: Uint8Array, elem = 4): [ArrayBuffer, number, number] {
  if (bytes.byteOffset % elem === 0) return [bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / elem];
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return [out.buffer, 0, bytes.byteLength / elem];
}

function decode(bytes: Uint8Array, dtype: SafetensorsDtype, name: string, source: string): Float32Array | Int32Array | Uint8Array {
  const n = bytes.byteLength / BYTES[dtype];
  // The file is little-endian; so are all platforms Node runs on, so typed views can be used directly.
  switch (dtype) {
    case 'F32':
      return new Float32Array(...aligned(bytes, 4));
    case 'F64':
      return Float32Array.from(new Float64Array(...aligned(bytes, 8)));
    case 'F16': {
      const u = new Uint16Array(...aligned(bytes, 2));
      const out = new Float32Array(n);
      const table = f16Table();
      for (let i = 0; i < n; i++) out[i] = table[u[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const u = new Uint16Array(...aligned(bytes, 2));
      const w = new Uint32Array(n);
      for (let i = 0; i < n; i++) w[i] = u[i] << 16;
      return new Float32Array(w.buffer);
    }
    case 'I32':
      return new Int32Array(...aligned(bytes, 4));
    case 'I16':
      return Int32Array.from(new Int16Array(...aligned(bytes, 2)));
    case 'I8':
      return Int32Array.from(new Int8Array(...aligned(bytes, 1)));
    case 'I64': {
      const big = new BigInt64Array(...aligned(bytes, 8));
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = big[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new SafetensorsError(`${source}: tensor "${name}" (I64) holds ${v} at index ${i}, which does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    case 'U8':
    case 'BOOL':
      return bytes.slice();
  }
}

/**
 * Every half's float32, built once: decoding mini-CLIP's 15 M F16 weights one `f16ToF32` at a time was the
 * largest single cost of a warm notebook run (~1 s); a lookup is ~10× faster and gives the same values.
 */
let F16_TABLE: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16ToF32(h);
  }
  return F16_TABLE;
}

/** IEEE half → float32 (handles subnormals, inf, NaN). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** float32 → IEEE half, round to nearest even (used when writing fp16 checkpoints). */
export function f32ToF16(v: number): number {
  const f32 = new Float32Array([v]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
  /** Storage dtype; defaults to F32 for Float32Array, I32 for Int32Array, U8 for Uint8Array. F16/BF16 convert from float32. */
  dtype?: 'F32' | 'F16' | 'BF16' | 'I32' | 'U8';
}

/** Serialize tensors (keys sorted, header padded with spaces so the data section starts 8-byte aligned). */
export function serializeSafetensors(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const dtype = t.dtype ?? (t.data instanceof Float32Array ? 'F32' : t.data instanceof Int32Array ? 'I32' : 'U8');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(t.shape)} needs ${count} values but data has ${t.data.length}`);
    }
    const bytes = encode(t.data, dtype, name);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hbytes = enc.encode(json);
  const pad = (8 - (hbytes.byteLength % 8)) % 8;
  if (pad) hbytes = enc.encode(json + ' '.repeat(pad));
  const out = new Uint8Array(8 + hbytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.byteLength), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.byteLength;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

function encode(data: Float32Array | Int32Array | Uint8Array, dtype: string, name: string): Uint8Array {
  const wrongType = () => new SafetensorsError(`tensor "${name}": cannot store ${data.constructor.name} as ${dtype}`);
  switch (dtype) {
    case 'F32':
      if (!(data instanceof Float32Array)) throw wrongType();
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case 'I32':
      if (!(data instanceof Int32Array)) throw wrongType();
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case 'U8':
      if (!(data instanceof Uint8Array)) throw wrongType();
      return data.slice();
    case 'F16': {
      if (!(data instanceof Float32Array)) throw wrongType();
      const u = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) u[i] = f32ToF16(data[i]);
      return new Uint8Array(u.buffer);
    }
    case 'BF16': {
      if (!(data instanceof Float32Array)) throw wrongType();
      const w = new Uint32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      const u = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const x = w[i];
        // round to nearest even on the dropped 16 bits; NaN stays NaN
        if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) u[i] = (x >>> 16) | 0x40;
        else u[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
      return new Uint8Array(u.buffer);
    }
    default:
      throw new SafetensorsError(`tensor "${name}": unsupported write dtype ${dtype}`);
  }
}

/** Write atomically: temp file in the same directory, fsync, rename; a crash never leaves a half file under `path`. */
export async function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new SafetensorsError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/**
 * A process killed between writing a checkpoint's temp file and renaming it leaves
 * `.NAME.<pid>.<ms>.tmp` (writeSafetensors' naming), as large as the checkpoint: garbage once its writer is
 * gone. Removes those in `dir` whose writer is dead, for the file names given (default: any).
 */
export function removeDeadSafetensorsTemps(dir: string, names?: readonly string[]): void {
  for (const f of readdirSync(dir)) {
    const m = /^\.(.+)\.(\d+)\.\d+\.tmp$/.exec(f);
    if (!m || (names && !names.includes(m[1])) || processAlive(Number(m[2]))) continue;
    rmSync(join(dir, f), { force: true });
  }
}
