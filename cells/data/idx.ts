// IDX reader (the MNIST / Fashion-MNIST file format), plain or gzipped.
//
// Format: 2 zero bytes, a type code (0x08 = uint8), the number of dimensions, then one big-endian uint32 per
// dimension, then the data row-major. Only uint8 data occurs in these datasets, so only uint8 is accepted.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  shape: number[];
  /** Row-major uint8 values (a view into the inflated file). */
  data: Uint8Array;
  /** Byte offset of `data` inside the inflated file (recorded as each row's source offset). */
  dataOffset: number;
}

/** Parses IDX bytes (already inflated). `label` names the file in errors. */
export function parseIdx(bytes: Uint8Array, label: string): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`${label}: not an IDX file (bad magic number); expected e.g. t10k-images-idx3-ubyte(.gz)`);
  }
  if (bytes[2] !== 0x08) {
    throw new Error(`${label}: IDX element type 0x${bytes[2].toString(16)} is not supported (only uint8, 0x08)`);
  }
  const ndim = bytes[3];
  const headerBytes = 4 + 4 * ndim;
  if (ndim === 0 || bytes.length < headerBytes) throw new Error(`${label}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length < headerBytes + count) {
    throw new Error(`${label}: truncated IDX data (shape [${shape.join(', ')}] needs ${count} bytes, file has ${bytes.length - headerBytes})`);
  }
  return { shape, data: bytes.subarray(headerBytes, headerBytes + count), dataOffset: headerBytes };
}

/** Reads bytes, inflating when the content starts with the gzip magic (whatever the file name says). */
export function readMaybeGzip(path: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (err) {
      throw new Error(`${path}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  return raw;
}

export function readIdx(path: string): IdxArray {
  return parseIdx(readMaybeGzip(path), path);
}

/** Encodes an IDX uint8 array (used to write bundled subsets). */
export function encodeIdx(shape: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  out[2] = 0x08;
  out[3] = shape.length;
  const view = new DataView(out.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}
