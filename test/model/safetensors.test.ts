import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, f16ToF32, f32ToF16,
} from '../../cells/util/safetensors.ts';

const fixtureDir = fileURLToPath(new URL('../../../shared/clip/fixture-tiny/', import.meta.url));

test('reads the fixture checkpoint: 78 tensors, shapes as documented, scalar logit_scale', async () => {
  const f = await readSafetensors(join(fixtureDir, 'model.safetensors'));
  assert.equal(f.names().length, 78);
  assert.equal(f.metadata.format, 'pt');
  const tok = f.get('text_model.embeddings.token_embedding.weight');
  assert.deepEqual(tok.shape, [49408, 32]);
  assert.equal(tok.data.length, 49408 * 32);
  const ls = f.get('logit_scale');
  assert.deepEqual(ls.shape, []);
  assert.ok(Math.abs(ls.data[0] - 3.2) < 1e-6);
  assert.deepEqual(f.get('vision_model.embeddings.patch_embedding.weight').shape, [48, 3, 8, 8]);
});

test('round trip F32/I32/U8 + F16/BF16 conversion; header is 8-byte aligned', () => {
  const a = new Float32Array([1.5, -2.25, 3e-3, 65504, 0]);
  const bytes = serializeSafetensors({
    'b.f32': { shape: [5], data: a },
    'a.i32': { shape: [2, 2], data: new Int32Array([1, -2, 3, 2147483647]) },
    'c.u8': { shape: [3], data: new Uint8Array([0, 7, 255]) },
    'd.f16': { shape: [5], data: a, dtype: 'F16' },
    'e.bf16': { shape: [5], data: a, dtype: 'BF16' },
  }, { note: 'x' });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + hlen) % 8, 0);
  const f = parseSafetensors(bytes);
  assert.deepEqual(f.names(), ['a.i32', 'b.f32', 'c.u8', 'd.f16', 'e.bf16']);
  assert.deepEqual([...f.get('b.f32').data], [...a]);
  assert.deepEqual([...f.get('a.i32').data], [1, -2, 3, 2147483647]);
  assert.deepEqual([...f.get('c.u8').data], [0, 7, 255]);
  const h = f.get('d.f16').data;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(h[i] - a[i]) <= Math.abs(a[i]) * 1e-3 + 1e-7, `f16 ${i}`);
  const b = f.get('e.bf16').data;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(b[i] - a[i]) <= Math.abs(a[i]) * 8e-3, `bf16 ${i}`);
  assert.equal(f.metadata.note, 'x');
});

test('f16 conversion: subnormal, inf, round-trip of every finite half', () => {
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  for (let h = 0; h < 0x7c00; h += 37) assert.equal(f32ToF16(f16ToF32(h)), h);
});

function rawFile(header: object, data: Uint8Array): Uint8Array {
  const j = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + j.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  out.set(data, 8 + j.length);
  return out;
}

test('I64 reads as int32 when it fits and names the tensor when it does not', () => {
  const ok = new BigInt64Array([5n, -7n]);
  const f = parseSafetensors(rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(ok.buffer)));
  assert.deepEqual([...f.get('ids').data], [5, -7]);
  const big = new BigInt64Array([1n << 40n]);
  const g = parseSafetensors(rawFile({ huge: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(big.buffer)));
  assert.throws(() => g.get('huge'), /"huge".*int32/);
});

test('errors name the tensor: missing, bad size, truncated, unknown dtype', () => {
  const good = parseSafetensors(serializeSafetensors({ w: { shape: [2], data: new Float32Array(2) } }), 'm.safetensors');
  assert.throws(() => good.get('nope'), /m\.safetensors: tensor "nope" is missing/);
  assert.throws(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))), /"w".*12 bytes/);
  assert.throws(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8))), /"w".*outside/);
  assert.throws(() => parseSafetensors(rawFile({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))), /"w".*unsupported dtype/);
  assert.throws(() => parseSafetensors(new Uint8Array(3)), /too short/);
});

test('writeSafetensors is atomic: no temp file left, result parses', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'st-'));
  try {
    const p = join(dir, 'w.safetensors');
    await writeSafetensors(p, { x: { shape: [1, 3], data: new Float32Array([1, 2, 3]) } });
    assert.deepEqual(await readdir(dir), ['w.safetensors']);
    const f = parseSafetensors(new Uint8Array(await readFile(p)));
    assert.deepEqual([...f.get('x').data], [1, 2, 3]);
    await assert.rejects(writeSafetensors(join(dir, 'no/such/dir/w.safetensors'), { x: { shape: [1], data: new Float32Array(1) } }), /cannot write/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('misaligned data (header length not a multiple of 4) is copied, aligned data is viewed; values agree', () => {
  const vals = new Float32Array([1.25, -3, 7.5]);
  for (const pad of [0, 1, 2, 3]) {
    const header = { w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, __metadata__: { p: 'x'.repeat(pad) } };
    const f = parseSafetensors(rawFile(header, new Uint8Array(vals.buffer)));
    assert.deepEqual([...f.get('w').data], [...vals], `pad ${pad}`);
  }
});

test('an F16 tensor of every half decodes to the float32 that f16ToF32 gives (the lookup table is exact)', () => {
  const halves = new Uint16Array(65536).map((_, i) => i);
  const header = { h: { dtype: 'F16', shape: [65536], data_offsets: [0, 131072] } };
  const got = parseSafetensors(rawFile(header, new Uint8Array(halves.buffer))).get('h').data as Float32Array;
  for (let h = 0; h < 65536; h++) {
    const want = Math.fround(f16ToF32(h));
    if (!Object.is(got[h], want) && !(Number.isNaN(got[h]) && Number.isNaN(want))) assert.fail(`half 0x${h.toString(16)}: ${got[h]} ≠ ${want}`);
  }
  assert.ok(Object.is(got[0x8000], -0), 'negative zero stays negative');
});
