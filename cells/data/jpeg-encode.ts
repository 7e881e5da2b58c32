// A baseline JPEG encoder that quantises exactly as libjpeg(-turbo) does at a given quality, so that
// "save as JPEG at quality q, read it back" (the CIFAR-10-C JPEG corruption, defined with PIL's encoder)
// gives the same pixels as PIL on libjpeg-turbo when read back with our exact decoder (jpeg.ts).
//
// What must match libjpeg for the decoded pixels to match: the fixed-point RGB→YCbCr conversion (jccolor.c),
// 4:2:0 chroma downsampling with its alternating rounding bias (jcsample.c), edge replication to whole blocks
// (jcsample.c, jcprepct.c), the integer "islow" forward DCT (jfdctint.c), the IJG quantisation tables scaled
// by quality (jcparam.c, baseline-clamped as PIL asks) and round-half-away quantisation (jcdctmgr.c).
// What need not match: the Huffman tables. Any valid code gives the same coefficients, so this encoder uses
// fixed-length codes (4 bits for the ≤ 12 DC symbols, 8 bits for the ≤ 162 AC symbols; neither is all ones)
// instead of the standard tables. The files are valid JPEGs, a little larger than libjpeg's.
import type { DecodedImage } from './images.ts';

// IJG's example tables (ITU-T T.81 Annex K.1), natural order.
const LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/** Zigzag position → natural (row-major) index, walking the anti-diagonals alternately. */
export const ZIGZAG: number[] = (() => {
  const out: number[] = [];
  for (let s = 0; s < 15; s++) {
    const rows: number[] = [];
    for (let r = Math.max(0, s - 7); r <= Math.min(s, 7); r++) rows.push(r);
    if (s % 2 === 0) rows.reverse();
    for (const r of rows) out.push(r * 8 + (s - r));
  }
  return out;
})();

/** libjpeg's jpeg_set_quality with force_baseline: the base table scaled by quality, each entry in 1..255. */
export function qualityTable(base: readonly number[], quality: number): number[] {
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) throw new Error(`JPEG quality must be an integer in 1..100, got ${quality}`);
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - 2 * quality;
  return base.map((b) => Math.min(255, Math.max(1, Math.floor((b * scale + 50) / 100))));
}

const FIX = (x: number) => Math.floor(x * 65536 + 0.5);
const [R_Y, G_Y, B_Y, R_CB, G_CB, HALF_C, G_CR, B_CR] = [0.299, 0.587, 0.114, 0.16874, 0.33126, 0.5, 0.41869, 0.08131].map(FIX);

/** jccolor.c's rgb_ycc_convert on one pixel (16-bit fixed point, Cb/Cr offset by 128 with a bias just under ½). */
function ycc(r: number, g: number, b: number): [number, number, number] {
  const y = (R_Y * r + G_Y * g + B_Y * b + 32768) >> 16;
  const cb = (-R_CB * r - G_CB * g + HALF_C * b + (128 << 16) + 32767) >> 16;
  const cr = (HALF_C * r - G_CR * g - B_CR * b + (128 << 16) + 32767) >> 16;
  return [y, cb, cr];
}

// jfdctint.c's constants (13 fractional bits).
const C_0_298 = 2446, C_0_390 = 3196, C_0_541 = 4433, C_0_765 = 6270, C_0_899 = 7373, C_1_175 = 9633;
const C_1_501 = 12299, C_1_847 = 15137, C_1_961 = 16069, C_2_053 = 16819, C_2_562 = 20995, C_3_072 = 25172;
const descale = (x: number, n: number) => (x + (1 << (n - 1))) >> n;

/** jpeg_fdct_islow in place on level-shifted samples; the result is 8× the orthonormal DCT, as libjpeg's. */
function fdctIslow(d: Int32Array): void {
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 1 : 8, stride = pass === 0 ? 8 : 1;
    for (let k = 0; k < 8; k++) {
      const o = k * stride;
      const at = (i: number) => o + i * step;
      const tmp0 = d[at(0)] + d[at(7)], tmp7 = d[at(0)] - d[at(7)];
      const tmp1 = d[at(1)] + d[at(6)], tmp6 = d[at(1)] - d[at(6)];
      const tmp2 = d[at(2)] + d[at(5)], tmp5 = d[at(2)] - d[at(5)];
      const tmp3 = d[at(3)] + d[at(4)], tmp4 = d[at(3)] - d[at(4)];
      const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
      const odd = pass === 0 ? 11 : 15; // CONST_BITS − PASS1_BITS, then CONST_BITS + PASS1_BITS
      if (pass === 0) {
        d[at(0)] = (tmp10 + tmp11) << 2;
        d[at(4)] = (tmp10 - tmp11) << 2;
      } else {
        d[at(0)] = descale(tmp10 + tmp11, 2);
        d[at(4)] = descale(tmp10 - tmp11, 2);
      }
      let z1 = (tmp12 + tmp13) * C_0_541;
      d[at(2)] = descale(z1 + tmp13 * C_0_765, odd);
      d[at(6)] = descale(z1 - tmp12 * C_1_847, odd);
      z1 = tmp4 + tmp7;
      let z2 = tmp5 + tmp6, z3 = tmp4 + tmp6, z4 = tmp5 + tmp7;
      const z5 = (z3 + z4) * C_1_175;
      const t4 = tmp4 * C_0_298, t5 = tmp5 * C_2_053, t6 = tmp6 * C_3_072, t7 = tmp7 * C_1_501;
      z1 *= -C_0_899;
      z2 *= -C_2_562;
      z3 = z3 * -C_1_961 + z5;
      z4 = z4 * -C_0_390 + z5;
      d[at(7)] = descale(t4 + z1 + z3, odd);
      d[at(5)] = descale(t5 + z2 + z4, odd);
      d[at(3)] = descale(t6 + z2 + z3, odd);
      d[at(1)] = descale(t7 + z1 + z4, odd);
    }
  }
}

interface Plane {
  w: number;
  h: number;
  data: Int32Array;
}

/** A plane widened to `w` columns and `h` rows by repeating its last column and row (libjpeg's edge expansion). */
function expand(p: Plane, w: number, h: number): Plane {
  const out = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(y, p.h - 1);
    for (let x = 0; x < w; x++) out[y * w + x] = p.data[sy * p.w + Math.min(x, p.w - 1)];
  }
  return { w, h, data: out };
}

/** jcsample.c's h2v2_downsample: the mean of each 2×2 cell, rounding bias alternating 1, 2 along a row. */
function downsample2x2(p: Plane): Plane {
  const w = p.w / 2, h = p.h / 2;
  const out = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    let bias = 1;
    for (let x = 0; x < w; x++) {
      const i = 2 * y * p.w + 2 * x;
      out[y * w + x] = (p.data[i] + p.data[i + 1] + p.data[i + p.w] + p.data[i + p.w + 1] + bias) >> 2;
      bias ^= 3;
    }
  }
  return { w, h, data: out };
}

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(code: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >> i) & 1);
      if (++this.n === 8) this.flushByte();
    }
  }
  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // byte stuffing
    this.acc = 0;
    this.n = 0;
  }
  finish(): number[] {
    while (this.n !== 0) this.put(1, 1); // pad the last byte with ones
    return this.bytes;
  }
}

const category = (v: number) => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));
const AC_SYMBOLS = (() => {
  const s: number[] = [0x00, 0xf0];
  for (let run = 0; run < 16; run++) for (let size = 1; size <= 10; size++) s.push((run << 4) | size);
  return s;
})();
/** AC symbol → its 8-bit code (its place in the list above). */
const AC_CODE = new Map(AC_SYMBOLS.map((s, i) => [s, i]));

/**
 * Encodes 8-bit gray or RGB pixels as a baseline JPEG at `quality` (1–100): gray as one component, RGB as
 * YCbCr with 4:2:0 chroma (libjpeg's and PIL's default).
 */
export function encodeJpeg(image: DecodedImage, quality: number): Uint8Array {
  const { width: W, height: H, channels } = image;
  if (!(W >= 1 && H >= 1 && W <= 65535 && H <= 65535)) throw new Error(`encodeJpeg: image size ${W}×${H} is outside 1..65535`);
  if (image.data.length !== W * H * channels) throw new Error(`encodeJpeg: ${image.data.length} bytes for a ${W}×${H}×${channels} image`);
  const tables = [qualityTable(LUMA, quality), qualityTable(CHROMA, quality)];
  const color = channels === 3;
  const hmax = color ? 2 : 1;
  const mcuW = 8 * hmax, mcuH = 8 * hmax;
  const mcusX = Math.ceil(W / mcuW), mcusY = Math.ceil(H / mcuH);

  const full: Plane[] = [];
  if (color) {
    const ys = new Int32Array(W * H), cbs = new Int32Array(W * H), crs = new Int32Array(W * H);
    for (let i = 0; i < W * H; i++) [ys[i], cbs[i], crs[i]] = ycc(image.data[3 * i], image.data[3 * i + 1], image.data[3 * i + 2]);
    full.push({ w: W, h: H, data: ys }, { w: W, h: H, data: cbs }, { w: W, h: H, data: crs });
  } else {
    full.push({ w: W, h: H, data: Int32Array.from(image.data) });
  }
  // Per component: its samples over the whole MCU grid, edge-replicated the way libjpeg replicates them.
  const planes = full.map((p, c) => {
    const sub = color && c > 0;
    const factor = sub ? 2 : 1;
    const compW = Math.ceil(W / factor);
    const blocksW = Math.ceil(compW / 8);
    let q: Plane;
    if (sub) {
      // Right edge widened to the component's whole blocks (×2 at full resolution), rows to an even count;
      // downsample; then the *downsampled* last row repeated to the MCU grid (jcprepct.c's order).
      q = downsample2x2(expand(p, blocksW * 16, 2 * Math.ceil(H / 2)));
    } else {
      q = expand(p, blocksW * 8, H);
    }
    const gridW = color ? mcusX * (sub ? 8 : 16) : Math.ceil(W / 8) * 8;
    const gridH = color ? mcusY * (sub ? 8 : 16) : Math.ceil(H / 8) * 8;
    // Blocks beyond the component's own width or height are libjpeg's "dummy" blocks: never visible after
    // decoding, so repeating the edge there changes no decoded pixel.
    return expand(q, gridW, gridH);
  });

  const bw = new BitWriter();
  const lastDc = [0, 0, 0];
  const block = new Int32Array(64);
  const encodeBlock = (p: Plane, bx: number, by: number, comp: number) => {
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = p.data[(by * 8 + y) * p.w + bx * 8 + x] - 128;
    fdctIslow(block);
    const qt = tables[comp === 0 ? 0 : 1];
    const coef = new Int32Array(64);
    for (let k = 0; k < 64; k++) {
      const n = ZIGZAG[k];
      const div = qt[n] << 3; // the DCT above is scaled by 8
      const t = block[n];
      coef[k] = t < 0 ? -Math.floor((-t + (div >> 1)) / div) : Math.floor((t + (div >> 1)) / div);
    }
    const diff = coef[0] - lastDc[comp];
    lastDc[comp] = coef[0];
    const dcCat = category(diff);
    bw.put(dcCat, 4);
    if (dcCat) bw.put(diff < 0 ? diff + (1 << dcCat) - 1 : diff, dcCat);
    let run = 0;
    for (let k = 1; k < 64; k++) {
      const v = coef[k];
      if (v === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        bw.put(AC_CODE.get(0xf0)!, 8);
        run -= 16;
      }
      const cat = category(v);
      if (cat > 10) throw new Error(`encodeJpeg: AC coefficient ${v} needs more than 10 bits`);
      bw.put(AC_CODE.get((run << 4) | cat)!, 8);
      bw.put(v < 0 ? v + (1 << cat) - 1 : v, cat);
      run = 0;
    }
    if (run > 0) bw.put(0, 8); // EOB is symbol 0
  };
  if (color) {
    for (let my = 0; my < mcusY; my++) for (let mx = 0; mx < mcusX; mx++) {
      for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) encodeBlock(planes[0], mx * 2 + x, my * 2 + y, 0);
      encodeBlock(planes[1], mx, my, 1);
      encodeBlock(planes[2], mx, my, 2);
    }
  } else {
    for (let by = 0; by < planes[0].h / 8; by++) for (let bx = 0; bx < planes[0].w / 8; bx++) encodeBlock(planes[0], bx, by, 0);
  }
  const scan = bw.finish();

  const out: number[] = [0xff, 0xd8];
  const segment = (marker: number, body: number[]) => out.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body);
  const nTables = color ? 2 : 1;
  for (let t = 0; t < nTables; t++) segment(0xdb, [t, ...ZIGZAG.map((n) => tables[t][n])]);
  const comps = color ? [[1, 0x22, 0], [2, 0x11, 1], [3, 0x11, 1]] : [[1, 0x11, 0]];
  segment(0xc0, [8, H >> 8, H & 0xff, W >> 8, W & 0xff, comps.length, ...comps.flat()]);
  const huffman = (cls: number, id: number, length: number, symbols: number[]) => {
    const counts = new Array(16).fill(0);
    counts[length - 1] = symbols.length;
    segment(0xc4, [(cls << 4) | id, ...counts, ...symbols]);
  };
  const dcSymbols = Array.from({ length: 12 }, (_, i) => i);
  for (let t = 0; t < nTables; t++) {
    huffman(0, t, 4, dcSymbols);
    huffman(1, t, 8, AC_SYMBOLS);
  }
  segment(0xda, [comps.length, ...comps.flatMap(([id, , tq]) => [id, (tq << 4) | tq]), 0, 63, 0]);
  const bytes = new Uint8Array(out.length + scan.length + 2);
  bytes.set(out);
  bytes.set(scan, out.length);
  bytes.set([0xff, 0xd9], out.length + scan.length);
  return bytes;
}
