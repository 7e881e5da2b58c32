// A small reader for uncompressed ustar / GNU / pax tar archives.
//
// Why our own: the datasets ship as plain tars (10k+ small members) and the loaders need random access
// to one member at a time by (offset, size), without extracting or reading the whole archive into memory.
// A `.tar.gz` is supported too, but gzip has no random access, so it is inflated into memory once.

import { closeSync, openSync, readSync, fstatSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** One regular file inside an archive: its path and where its bytes lie. */
export interface TarEntry {
  name: string;
  /** Byte offset of the member's data in the (uncompressed) archive. */
  offset: number;
  size: number;
}

/** Random-access bytes: a file handle or an in-memory buffer. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export class BufferSource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || offset + length > this.bytes.length) {
      throw new RangeError(`read past the end of the buffer (offset ${offset}, length ${length}, size ${this.bytes.length})`);
    }
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

/** Reads a file through one fs handle; the handle stays open until close(). */
export class FileSource implements ByteSource {
  private fd: number | undefined;
  readonly size: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Uint8Array {
    if (this.fd === undefined) throw new Error(`${this.path}: file handle already closed`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error(`${this.path}: unexpected end of file at byte ${offset + done} (wanted ${length} bytes from ${offset})`);
      done += n;
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

const BLOCK = 512;
const decoder = new TextDecoder('utf-8');

function cString(block: Uint8Array, start: number, length: number): string {
  let end = start;
  const stop = start + length;
  while (end < stop && block[end] !== 0) end++;
  return decoder.decode(block.subarray(start, end));
}

/** Tar numeric fields are octal ASCII, or base-256 when the high bit of the first byte is set (GNU, > 8 GiB). */
function tarNumber(block: Uint8Array, start: number, length: number): number {
  if (block[start] & 0x80) {
    let value = block[start] & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[start + i];
    return value;
  }
  const text = cString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad octal field "${text}"`);
  return parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let stored: number;
  try {
    stored = tarNumber(block, 148, 8);
  } catch {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

/** pax extended header records: "<len> <key>=<value>\n". Only `path` matters for us. */
function paxPath(data: Uint8Array): string | undefined {
  const text = decoder.decode(data);
  let pos = 0;
  let path: string | undefined;
  while (pos < text.length) {
    const space = text.indexOf(' ', pos);
    if (space < 0) break;
    const len = parseInt(text.slice(pos, space), 10);
    if (!(len > 0)) break;
    const record = text.slice(space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    pos += len;
  }
  return path;
}

/** An opened archive: the listing of its regular files plus random access to their bytes. */
export class TarArchive {
  readonly entries: TarEntry[];
  /** Directory entries (type 5), without trailing slash: they reveal empty class folders. */
  readonly directories: string[] = [];
  private readonly byName: Map<string, TarEntry>;

  private constructor(readonly path: string, private readonly source: ByteSource) {
    this.entries = listEntries(source, path, this.directories);
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
  }

  /** Opens a `.tar` for random access, or inflates a `.tar.gz` / `.tgz` into memory. */
  static open(path: string): TarArchive {
    if (/\.(tar\.gz|tgz)$/i.test(path)) {
      let bytes: Uint8Array;
      try {
        bytes = gunzipSync(readFileSync(path));
      } catch (err) {
        throw new Error(`${path}: cannot inflate gzip archive (${(err as Error).message})`);
      }
      return new TarArchive(path, new BufferSource(bytes));
    }
    return new TarArchive(path, new FileSource(path));
  }

  /** An archive held in memory (tests, the browser). */
  static fromBytes(bytes: Uint8Array, label = '<memory>'): TarArchive {
    return new TarArchive(label, new BufferSource(bytes));
  }

  get(name: string): TarEntry | undefined {
    return this.byName.get(name);
  }

  /** The bytes of one member, given its listing entry (or offset and size). */
  read(entry: { offset: number; size: number }): Uint8Array {
    return this.source.read(entry.offset, entry.size);
  }

  readFile(name: string): Uint8Array {
    const entry = this.byName.get(name);
    if (!entry) throw new Error(`${this.path}: no member named "${name}"`);
    return this.read(entry);
  }

  close(): void {
    this.source.close();
  }
}

function listEntries(source: ByteSource, label: string, directories: string[]): TarEntry[] {
  const entries: TarEntry[] = [];
  // Headers are read through a window so that listing 10k members costs few syscalls.
  const WINDOW = 1 << 20;
  let windowStart = -1;
  let window: Uint8Array = new Uint8Array(0);
  const header = (pos: number): Uint8Array => {
    if (pos < windowStart || pos + BLOCK > windowStart + window.length) {
      windowStart = pos;
      window = source.read(pos, Math.min(WINDOW, source.size - pos));
    }
    return window.subarray(pos - windowStart, pos - windowStart + BLOCK);
  };

  let pos = 0;
  let longName: string | undefined;
  while (pos + BLOCK <= source.size) {
    const block = header(pos);
    if (block.every((b) => b === 0)) break; // end-of-archive marker
    if (!checksumOk(block)) {
      throw new Error(`${label}: not a tar archive or corrupt header at byte ${pos} (checksum mismatch)`);
    }
    const size = tarNumber(block, 124, 12);
    const type = String.fromCharCode(block[156] || 48); // NUL type means a regular file
    const dataStart = pos + BLOCK;
    if (dataStart + size > source.size) {
      throw new Error(`${label}: member at byte ${pos} claims ${size} bytes but the archive is truncated`);
    }
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L') {
      // GNU long name: the next header's real name is this member's data.
      longName = cString(source.read(dataStart, size), 0, size);
    } else if (type === 'x') {
      longName = paxPath(source.read(dataStart, size)) ?? longName;
    } else if (type === 'g') {
      // global pax header: nothing we need
    } else {
      let name = longName;
      if (name === undefined) {
        name = cString(block, 0, 100);
        const magic = cString(block, 257, 6);
        const prefix = magic.startsWith('ustar') ? cString(block, 345, 155) : '';
        if (prefix) name = `${prefix}/${name}`;
      }
      longName = undefined;
      name = name.replace(/^\.\//, '');
      if (type === '0' || type === '7') entries.push({ name, offset: dataStart, size });
      else if (type === '5') directories.push(name.replace(/\/+$/, ''));
    }
    pos = next;
  }
  return entries;
}

/**
 * Writes a minimal ustar archive: regular files, and directories for names ending in '/'. Used by the bundling script and by tests that
 * build corrupt archives; names must fit ustar's 100 + 155 byte fields.
 */
export function writeTar(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const octal = (block: Uint8Array, start: number, length: number, value: number): void => {
    const text = value.toString(8).padStart(length - 1, '0');
    block.set(encoder.encode(text), start);
    block[start + length - 1] = 0;
  };
  for (const file of files) {
    const block = new Uint8Array(BLOCK);
    let name = file.name;
    let prefix = '';
    if (encoder.encode(name).length > 100) {
      const cut = name.lastIndexOf('/', name.length - 1);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
      if (cut < 0 || encoder.encode(name).length > 100 || encoder.encode(prefix).length > 155) {
        throw new Error(`tar member name too long for ustar: ${file.name}`);
      }
    }
    block.set(encoder.encode(name), 0);
    octal(block, 100, 8, 0o644);
    octal(block, 108, 8, 0);
    octal(block, 116, 8, 0);
    const isDir = file.name.endsWith('/');
    octal(block, 124, 12, file.data.length);
    octal(block, 136, 12, 1577836800); // 2020-01-01, fixed so archives are reproducible
    block[156] = isDir ? 53 : 48; // '5' directory (name ends with '/'), '0' regular file
    block.set(encoder.encode('ustar\u0000'), 257);
    block.set(encoder.encode('00'), 263);
    block.set(encoder.encode(prefix), 345);
    for (let i = 148; i < 156; i++) block[i] = 32;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += block[i];
    block.set(encoder.encode(sum.toString(8).padStart(6, '0')), 148);
    block[154] = 0;
    block[155] = 32;
    parts.push(block, file.data);
    const pad = (BLOCK - (file.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
