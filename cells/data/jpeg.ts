// Baseline JPEG decoder that reproduces libjpeg(-turbo)'s default decoding bit for bit, i.e. what PIL
// (and so HF CLIPImageProcessor) sees: the "islow" integer IDCT, "fancy" (triangle-filter) chroma
// upsampling, and libjpeg's fixed-point YCbCr→RGB tables.
//
// Why: jpeg-js upsamples chroma by replication and uses another IDCT; on CIFAR-10 JPEGs its pixels differ
// from PIL's by 1.5 on average and up to 65 (measured on the bundled 1,000 images), which would dominate
// every comparison with reference CLIP features. Progressive, arithmetic-coded, 12-bit and CMYK files are
// not handled here (`decodeJpegExact` throws UnsupportedJpeg) and fall back to jpeg-js in images.ts.

export class UnsupportedJpeg extends Error {}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Plane size in samples (padded to whole blocks of the interleaved MCU grid). */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Real (downsampled) size in samples. */
  width: number;
  height: number;
  plane: Uint8Array;
  pred: number;
  dcTable: number;
  acTable: number;
}

interface Huffman {
  /** Per code length 1..16: smallest code, largest code (-1 if none), index of its first value. */
  minCode: Int32Array;
  maxCode: Int32Array;
  valPtr: Int32Array;
  values: Uint8Array;
  /** 9-bit lookahead: (length << 8) | value, 0 when the code is longer than 9 bits. */
  fast: Uint16Array;
}

const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15,
  23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

const FAST_BITS = 9;

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const minCode = new Int32Array(17);
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const fast = new Uint16Array(1 << FAST_BITS);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    valPtr[len] = k;
    minCode[len] = code;
    const n = counts[len - 1];
    if (n) {
      if (len <= FAST_BITS) {
        for (let i = 0; i < n; i++) {
          const c = code + i;
          const shift = FAST_BITS - len;
          for (let fill = 0; fill < 1 << shift; fill++) fast[(c << shift) | fill] = (len << 8) | values[k + i];
        }
      }
      code += n;
      k += n;
      maxCode[len] = code - 1;
    }
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff; // sentinel: a code longer than 16 bits is corrupt
  return { minCode, maxCode, valPtr, values, fast };
}

/** Bit reader over entropy-coded data: skips stuffed 0x00 after 0xFF and stops at markers. */
class BitReader {
  private acc = 0;
  private bits = 0;
  /** Zero bits appended after a marker or the end of data (libjpeg pads likewise); using them means corrupt data. */
  private padBits = 0;
  private hitMarker = false;
  constructor(private readonly data: Uint8Array, public pos: number) {}

  private fill(): void {
    while (this.bits <= 24) {
      let byte = 0;
      if (!this.hitMarker) {
        if (this.pos >= this.data.length) this.hitMarker = true;
        else if (this.data[this.pos] !== 0xff) byte = this.data[this.pos++];
        else if (this.data[this.pos + 1] === 0x00) {
          byte = 0xff;
          this.pos += 2;
        } else this.hitMarker = true;
      }
      if (this.hitMarker) this.padBits += 8;
      this.acc = ((this.acc << 8) | byte) >>> 0;
      this.bits += 8;
    }
  }

  /** Throws if decoding consumed padding (data truncated or corrupt). */
  check(): void {
    if (this.bits < this.padBits) throw new Error('JPEG entropy-coded data ends early (truncated or corrupt)');
  }

  getBits(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    this.bits -= n;
    const v = (this.acc >>> this.bits) & ((1 << n) - 1);
    this.acc = (this.acc & ((1 << this.bits) - 1)) >>> 0;
    return v;
  }

  decode(t: Huffman): number {
    if (this.bits < 16) this.fill();
    const f = t.fast[(this.acc >>> (this.bits - FAST_BITS)) & ((1 << FAST_BITS) - 1)];
    if (f) {
      this.bits -= f >> 8;
      this.acc = (this.acc & ((1 << this.bits) - 1)) >>> 0;
      return f & 0xff;
    }
    let code = 0;
    let len = 0;
    do {
      len++;
      code = (code << 1) | this.getBits(1);
    } while (len <= 16 && code > t.maxCode[len]);
    if (len > 16) throw new Error('corrupt JPEG: bad Huffman code');
    return t.values[t.valPtr[len] + code - t.minCode[len]];
  }

  /** At a restart interval: drop the buffered bits and step over the RSTn marker. */
  restart(): void {
    this.check();
    this.acc = 0;
    this.bits = 0;
    this.padBits = 0;
    this.hitMarker = false;
    while (this.pos + 1 < this.data.length && !(this.data[this.pos] === 0xff && this.data[this.pos + 1] >= 0xd0 && this.data[this.pos + 1] <= 0xd7)) this.pos++;
    if (this.pos + 1 >= this.data.length) throw new Error('corrupt JPEG: missing restart marker');
    this.pos += 2;
  }

  /** Position of the first marker after the entropy-coded segment (RSTn markers belong to the segment). */
  end(): number {
    let p = this.pos;
    while (p + 1 < this.data.length && !(this.data[p] === 0xff && this.data[p + 1] !== 0x00 && !(this.data[p + 1] >= 0xd0 && this.data[p + 1] <= 0xd7))) p++;
    return p;
  }
}

function extend(v: number, s: number): number {
  return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

// jidctint.c constants (CONST_BITS = 13)
const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** libjpeg's IDCT range limit: clamp(x + 128) via a 10-bit wrapped table (wraps only for corrupt data). */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let x = 0; x < 1024; x++) {
    if (x < 128) t[x] = x + 128;
    else if (x < 384) t[x] = 255;
    else if (x < 896) t[x] = 0;
    else t[x] = x - 896;
  }
  return t;
})();

// DESCALE(x, n) = (x + 2^(n-1)) >> n on 64-bit integers; doubles hold these sums exactly, Math.floor divides.
const P1 = 1 << (CONST_BITS - PASS1_BITS);
const P2 = 2 ** (CONST_BITS + PASS1_BITS + 3);

/**
 * jidctint.c's 1-D 8-point butterfly, shared by the column and row passes: inputs x[base + k·step]
 * (k = 0..7), outputs 0..7 before descaling written to `acc`. Sums of these integer products stay below
 * 2^53, so doubles hold them exactly and both passes round exactly as libjpeg's integer code does.
 */
function idct8(x: Int32Array, base: number, step: number, acc: Float64Array): void {
  let z2 = x[base + 2 * step];
  let z3 = x[base + 6 * step];
  let z1 = (z2 + z3) * FIX_0_541196100;
  let tmp2 = z1 - z3 * FIX_1_847759065;
  let tmp3 = z1 + z2 * FIX_0_765366865;
  z2 = x[base];
  z3 = x[base + 4 * step];
  let tmp0 = (z2 + z3) * 8192;
  let tmp1 = (z2 - z3) * 8192;
  const tmp10 = tmp0 + tmp3;
  const tmp13 = tmp0 - tmp3;
  const tmp11 = tmp1 + tmp2;
  const tmp12 = tmp1 - tmp2;
  tmp0 = x[base + 7 * step];
  tmp1 = x[base + 5 * step];
  tmp2 = x[base + 3 * step];
  tmp3 = x[base + step];
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  let z4 = tmp1 + tmp3;
  const z5 = (z3 + z4) * FIX_1_175875602;
  tmp0 *= FIX_0_298631336;
  tmp1 *= FIX_2_053119869;
  tmp2 *= FIX_3_072711026;
  tmp3 *= FIX_1_501321110;
  z1 *= -FIX_0_899976223;
  z2 *= -FIX_2_562915447;
  z3 = z3 * -FIX_1_961570560 + z5;
  z4 = z4 * -FIX_0_390180644 + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;
  acc[0] = tmp10 + tmp3;
  acc[7] = tmp10 - tmp3;
  acc[1] = tmp11 + tmp2;
  acc[6] = tmp11 - tmp2;
  acc[2] = tmp12 + tmp1;
  acc[5] = tmp12 - tmp1;
  acc[3] = tmp13 + tmp0;
  acc[4] = tmp13 - tmp0;
}

const idctAcc = new Float64Array(8);

/** Dequantised coefficients (natural order) → 8x8 samples written into `out` at `offset` with `stride`. */
function idctIslow(coef: Int32Array, ws: Int32Array, out: Uint8Array, offset: number, stride: number): void {
  const acc = idctAcc;
  // Pass 1: columns, descaled by CONST_BITS - PASS1_BITS into the workspace.
  const half = P1 / 2;
  for (let c = 0; c < 8; c++) {
    if (coef[8 + c] === 0 && coef[16 + c] === 0 && coef[24 + c] === 0 && coef[32 + c] === 0 && coef[40 + c] === 0 && coef[48 + c] === 0 && coef[56 + c] === 0) {
      const dc = coef[c] * 4;
      for (let r = 0; r < 8; r++) ws[r * 8 + c] = dc;
      continue;
    }
    idct8(coef, c, 8, acc);
    for (let k = 0; k < 8; k++) ws[k * 8 + c] = Math.floor((acc[k] + half) / P1);
  }
  // Pass 2: rows, descaled by CONST_BITS + PASS1_BITS + 3 and range-limited into samples.
  const half2 = P2 / 2;
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    const o = offset + r * stride;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      const v = IDCT_LIMIT[((ws[w] + 16) >> 5) & 1023];
      for (let i = 0; i < 8; i++) out[o + i] = v;
      continue;
    }
    idct8(ws, w, 1, acc);
    for (let k = 0; k < 8; k++) out[o + k] = IDCT_LIMIT[Math.floor((acc[k] + half2) / P2) & 1023];
  }
}

// jdcolor.c tables (SCALEBITS = 16)
const ONE_HALF = 1 << 15;
const fix = (x: number) => Math.floor(x * 65536 + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> 16;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> 16;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Upsamples one component plane to the image's sample grid the way libjpeg-turbo's jdsample.c does. */
function upsample(c: Component, hmax: number, vmax: number, outW: number, outH: number): Uint8Array {
  const hs = hmax / c.h;
  const vs = vmax / c.v;
  const stride = c.blocksPerLine * 8;
  const src = c.plane;
  const dw = c.width;
  const dh = c.height;
  // Output grid covers whole upsampled component rows; cropped to the image at the end.
  const W = dw * hs;
  const H = dh * vs;
  const out = new Uint8Array(W * H);
  const row = (y: number) => Math.min(Math.max(y, 0), dh - 1) * stride; // edge rows duplicated (jdmainct.c)
  if (hs === 1 && vs === 1) {
    for (let y = 0; y < dh; y++) out.set(src.subarray(y * stride, y * stride + dw), y * W);
  } else if (hs === 2 && vs === 1 && dw > 2) {
    for (let y = 0; y < dh; y++) {
      const s = y * stride;
      const o = y * W;
      let p = 0;
      out[o + p++] = src[s];
      out[o + p++] = (src[s] * 3 + src[s + 1] + 2) >> 2;
      for (let x = 1; x < dw - 1; x++) {
        const v = src[s + x] * 3;
        out[o + p++] = (v + src[s + x - 1] + 1) >> 2;
        out[o + p++] = (v + src[s + x + 1] + 2) >> 2;
      }
      out[o + p++] = (src[s + dw - 1] * 3 + src[s + dw - 2] + 1) >> 2;
      out[o + p++] = src[s + dw - 1];
    }
  } else if (hs === 1 && vs === 2) {
    for (let y = 0; y < dh; y++) {
      for (let v = 0; v < 2; v++) {
        const s0 = row(y);
        const s1 = row(v === 0 ? y - 1 : y + 1);
        const bias = v === 0 ? 1 : 2;
        const o = (2 * y + v) * W;
        for (let x = 0; x < dw; x++) out[o + x] = (src[s0 + x] * 3 + src[s1 + x] + bias) >> 2;
      }
    }
  } else if (hs === 2 && vs === 2 && dw > 2) {
    for (let y = 0; y < dh; y++) {
      for (let v = 0; v < 2; v++) {
        const s0 = row(y);
        const s1 = row(v === 0 ? y - 1 : y + 1);
        const o = (2 * y + v) * W;
        let p = 0;
        let thiscol = src[s0] * 3 + src[s1];
        let nextcol = src[s0 + 1] * 3 + src[s1 + 1];
        out[o + p++] = (thiscol * 4 + 8) >> 4;
        out[o + p++] = (thiscol * 3 + nextcol + 7) >> 4;
        let lastcol = thiscol;
        thiscol = nextcol;
        for (let x = 2; x < dw; x++) {
          nextcol = src[s0 + x] * 3 + src[s1 + x];
          out[o + p++] = (thiscol * 3 + lastcol + 8) >> 4;
          out[o + p++] = (thiscol * 3 + nextcol + 7) >> 4;
          lastcol = thiscol;
          thiscol = nextcol;
        }
        out[o + p++] = (thiscol * 3 + lastcol + 8) >> 4;
        out[o + p++] = (thiscol * 4 + 7) >> 4;
      }
    }
  } else if (Number.isInteger(hs) && Number.isInteger(vs)) {
    // int_upsample: box replication (also h2v1/h2v2 when the component is at most 2 samples wide)
    for (let y = 0; y < H; y++) {
      const s = Math.floor(y / vs) * stride;
      const o = y * W;
      for (let x = 0; x < W; x++) out[o + x] = src[s + Math.floor(x / hs)];
    }
  } else {
    throw new UnsupportedJpeg(`sampling factors ${c.h}x${c.v} of ${hmax}x${vmax}`);
  }
  if (W === outW && H === outH) return out;
  const cropped = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) cropped.set(out.subarray(y * W, y * W + outW), y * outW);
  return cropped;
}

export interface JpegPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Decodes a baseline (sequential Huffman, 8-bit) JPEG exactly as libjpeg-turbo's defaults do. */
export function decodeJpegExact(bytes: Uint8Array): JpegPixels {
  if (!(bytes[0] === 0xff && bytes[1] === 0xd8)) throw new Error('not a JPEG (no SOI marker)');
  const qt: Int32Array[] = [];
  const dc: Huffman[] = [];
  const ac: Huffman[] = [];
  let frame: { width: number; height: number; comps: Component[]; hmax: number; vmax: number; mcusX: number; mcusY: number } | undefined;
  let restartInterval = 0;
  let adobeTransform = -1;
  let sawJfif = false;
  let pos = 2;
  let done = false;
  const u16 = (p: number) => (bytes[p] << 8) | bytes[p + 1];
  while (pos < bytes.length && !done) {
    if (bytes[pos] !== 0xff) {
      pos++;
      continue;
    }
    const marker = bytes[pos + 1];
    pos += 2;
    if (marker === 0xff || marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      if (marker === 0xff) pos--;
      continue;
    }
    if (marker === 0xd9) {
      done = true;
      break;
    }
    if (pos + 2 > bytes.length) throw new Error('truncated JPEG marker segment');
    const len = u16(pos);
    const seg = pos + 2;
    const end = pos + len;
    if (end > bytes.length) throw new Error('truncated JPEG marker segment');
    switch (marker) {
      case 0xdb: {
        let p = seg;
        while (p < end) {
          const pq = bytes[p] >> 4;
          const tq = bytes[p] & 15;
          p++;
          const table = new Int32Array(64);
          for (let k = 0; k < 64; k++) {
            table[ZIGZAG[k]] = pq ? u16(p + 2 * k) : bytes[p + k];
          }
          p += pq ? 128 : 64;
          qt[tq] = table;
        }
        break;
      }
      case 0xc4: {
        let p = seg;
        while (p < end) {
          const tc = bytes[p] >> 4;
          const th = bytes[p] & 15;
          const counts = bytes.subarray(p + 1, p + 17);
          const total = counts.reduce((a, b) => a + b, 0);
          const values = bytes.slice(p + 17, p + 17 + total);
          (tc === 0 ? dc : ac)[th] = buildHuffman(counts, values);
          p += 17 + total;
        }
        break;
      }
      case 0xc0:
      case 0xc1: {
        if (bytes[seg] !== 8) throw new UnsupportedJpeg(`${bytes[seg]}-bit samples`);
        const height = u16(seg + 1);
        const width = u16(seg + 3);
        const n = bytes[seg + 5];
        if (n !== 1 && n !== 3) throw new UnsupportedJpeg(`${n} components`);
        if (width === 0 || height === 0) throw new UnsupportedJpeg('height defined by DNL marker');
        const comps: Component[] = [];
        for (let i = 0; i < n; i++) {
          const b = seg + 6 + 3 * i;
          comps.push({ id: bytes[b], h: bytes[b + 1] >> 4, v: bytes[b + 1] & 15, tq: bytes[b + 2], blocksPerLine: 0, blocksPerColumn: 0, width: 0, height: 0, plane: new Uint8Array(0), pred: 0, dcTable: 0, acTable: 0 });
        }
        const hmax = Math.max(...comps.map((c) => c.h));
        const vmax = Math.max(...comps.map((c) => c.v));
        const mcusX = Math.ceil(width / (8 * hmax));
        const mcusY = Math.ceil(height / (8 * vmax));
        for (const c of comps) {
          if (c.h < 1 || c.v < 1) throw new Error('bad sampling factor');
          c.width = Math.ceil((width * c.h) / hmax);
          c.height = Math.ceil((height * c.v) / vmax);
          c.blocksPerLine = mcusX * c.h;
          c.blocksPerColumn = mcusY * c.v;
          c.plane = new Uint8Array(c.blocksPerLine * 8 * c.blocksPerColumn * 8);
        }
        frame = { width, height, comps, hmax, vmax, mcusX, mcusY };
        break;
      }
      case 0xc2:
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        throw new UnsupportedJpeg(`SOF${marker - 0xc0} (progressive, lossless or arithmetic coding)`);
      case 0xdd:
        restartInterval = u16(seg);
        break;
      case 0xe0:
        if (bytes[seg] === 0x4a && bytes[seg + 1] === 0x46 && bytes[seg + 2] === 0x49 && bytes[seg + 3] === 0x46) sawJfif = true;
        break;
      case 0xee:
        if (bytes[seg] === 0x41 && bytes[seg + 1] === 0x64 && bytes[seg + 2] === 0x6f && bytes[seg + 3] === 0x62 && bytes[seg + 4] === 0x65) adobeTransform = bytes[seg + 11];
        break;
      case 0xda: {
        if (!frame) throw new Error('scan before frame header');
        const ns = bytes[seg];
        const scomps: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const id = bytes[seg + 1 + 2 * i];
          const c = frame.comps.find((x) => x.id === id);
          if (!c) throw new Error(`scan names unknown component ${id}`);
          c.dcTable = bytes[seg + 2 + 2 * i] >> 4;
          c.acTable = bytes[seg + 2 + 2 * i] & 15;
          if (!dc[c.dcTable] || !ac[c.acTable]) throw new Error('scan uses an undefined Huffman table');
          if (!qt[c.tq]) throw new Error('component uses an undefined quantisation table');
          scomps.push(c);
        }
        pos = decodeScan(bytes, end, frame, scomps, dc, ac, qt, restartInterval);
        continue;
      }
      default:
        break; // APPn, COM, etc.
    }
    pos = end;
  }
  if (!frame) throw new Error('no frame header (SOF) found');
  if (!done) throw new Error('truncated JPEG (no end-of-image marker)');
  const { width, height, comps, hmax, vmax } = frame;
  if (comps.length === 1) {
    const c = comps[0];
    const out = new Uint8Array(width * height);
    const stride = c.blocksPerLine * 8;
    for (let y = 0; y < height; y++) out.set(c.plane.subarray(y * stride, y * stride + width), y * width);
    return { width, height, channels: 1, data: out };
  }
  const planes = comps.map((c) => upsample(c, hmax, vmax, width, height));
  const n = width * height;
  const data = new Uint8Array(n * 3);
  // libjpeg: YCbCr unless an Adobe marker says transform 0, or (no JFIF) the ids spell R, G, B.
  const rgb = adobeTransform === 0 || (!sawJfif && adobeTransform < 0 && comps[0].id === 0x52 && comps[1].id === 0x47 && comps[2].id === 0x42);
  const [Y, Cb, Cr] = planes;
  if (rgb) {
    for (let i = 0; i < n; i++) {
      data[3 * i] = Y[i];
      data[3 * i + 1] = Cb[i];
      data[3 * i + 2] = Cr[i];
    }
  } else {
    for (let i = 0; i < n; i++) {
      const y = Y[i];
      const cb = Cb[i];
      const cr = Cr[i];
      data[3 * i] = clamp255(y + CR_R[cr]);
      data[3 * i + 1] = clamp255(y + ((CB_G[cb] + CR_G[cr]) >> 16));
      data[3 * i + 2] = clamp255(y + CB_B[cb]);
    }
  }
  return { width, height, channels: 3, data };
}

function decodeScan(
  bytes: Uint8Array,
  start: number,
  frame: { comps: Component[]; mcusX: number; mcusY: number },
  scomps: Component[],
  dc: Huffman[],
  ac: Huffman[],
  qt: Int32Array[],
  restartInterval: number,
): number {
  const reader = new BitReader(bytes, start);
  const coef = new Int32Array(64);
  const ws = new Int32Array(64);
  for (const c of scomps) c.pred = 0;
  const single = scomps.length === 1;
  // A non-interleaved scan covers the component's own blocks, not the MCU-padded grid.
  const c0 = scomps[0];
  const mcusX = single ? Math.ceil(c0.width / 8) : frame.mcusX;
  const mcusY = single ? Math.ceil(c0.height / 8) : frame.mcusY;
  const total = mcusX * mcusY;

  const decodeBlock = (c: Component, row: number, col: number): void => {
    coef.fill(0);
    const q = qt[c.tq];
    const s = reader.decode(dc[c.dcTable]);
    const diff = s === 0 ? 0 : extend(reader.getBits(s), s);
    c.pred += diff;
    coef[0] = c.pred * q[0];
    const act = ac[c.acTable];
    for (let k = 1; k < 64; ) {
      const rs = reader.decode(act);
      const r = rs >> 4;
      const sz = rs & 15;
      if (sz === 0) {
        if (r === 15) {
          k += 16;
          continue;
        }
        break;
      }
      k += r;
      if (k > 63) throw new Error('corrupt JPEG: coefficient index past 63');
      const z = ZIGZAG[k];
      coef[z] = extend(reader.getBits(sz), sz) * q[z];
      k++;
    }
    const stride = c.blocksPerLine * 8;
    idctIslow(coef, ws, c.plane, row * 8 * stride + col * 8, stride);
  };

  for (let m = 0; m < total; m++) {
    if (restartInterval && m > 0 && m % restartInterval === 0) {
      reader.restart();
      for (const c of scomps) c.pred = 0;
    }
    const my = Math.floor(m / mcusX);
    const mx = m % mcusX;
    if (single) decodeBlock(c0, my, mx);
    else {
      for (const c of scomps) {
        for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) decodeBlock(c, my * c.v + v, mx * c.h + h);
      }
    }
  }
  reader.check();
  return reader.end();
}
