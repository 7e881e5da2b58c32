// Sample grids for datasets: a few decoded images, shrunk to thumbnails and sent as inline PNGs (the UI
// loads nothing remote). One image per class first, so the grid shows what the classes look like.
import { PNG } from 'pngjs';
import type { Table } from 'apache-arrow';

export interface ImageLike {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

export interface DatasetLike {
  name: string;
  classNames: string[];
  fingerprint?: string;
  rows: Table;
  images: { count: number; get(id: number): ImageLike };
}

export function isDatasetLike(v: unknown): v is DatasetLike {
  const d = v as DatasetLike | null;
  return (
    !!d && typeof d === 'object' && typeof d.name === 'string' && Array.isArray(d.classNames) &&
    !!d.rows && typeof d.rows.numRows === 'number' && typeof d.rows.getChild === 'function' &&
    !!d.images && typeof d.images.count === 'number' && typeof d.images.get === 'function'
  );
}

/** Box-filter shrink to fit `max` pixels on the long side, as RGBA (what PNG encoders take). */
export function thumbnail(img: ImageLike, max = 96): { width: number; height: number; rgba: Uint8Array } {
  const scale = Math.min(1, max / Math.max(img.width, img.height));
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const rgba = new Uint8Array(width * height * 4);
  const c = img.channels;
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y / scale);
    const y1 = Math.max(y0 + 1, Math.min(img.height, Math.floor((y + 1) / scale)));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x / scale);
      const x1 = Math.max(x0 + 1, Math.min(img.width, Math.floor((x + 1) / scale)));
      const sum = [0, 0, 0];
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * img.width + sx) * c;
          for (let k = 0; k < 3; k++) sum[k] += img.data[i + (c >= 3 ? k : 0)];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 4;
      rgba[o] = sum[0] / n;
      rgba[o + 1] = sum[1] / n;
      rgba[o + 2] = sum[2] / n;
      rgba[o + 3] = 255;
    }
  }
  return { width, height, rgba };
}

export function pngDataUrl(img: ImageLike, max = 96): string {
  const t = thumbnail(img, max);
  const png = new PNG({ width: t.width, height: t.height });
  png.data = Buffer.from(t.rgba);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

/** Up to `count` samples, one per class first (in class order), as captioned thumbnails. */
export function datasetSamples(d: DatasetLike, count = 24): { src: string; label?: string }[] {
  const ids = d.rows.getChild('id');
  const labels = d.rows.getChild('label');
  const names = d.rows.getChild('className');
  const n = d.rows.numRows;
  const picked: number[] = [];
  const seen = new Set<unknown>();
  const scan = Math.min(n, 20_000);
  for (let r = 0; r < scan && picked.length < count; r++) {
    const label = labels?.get(r) ?? names?.get(r);
    if (seen.has(label)) continue;
    seen.add(label);
    picked.push(r);
  }
  for (let r = 0; r < n && picked.length < count; r++) if (!picked.includes(r)) picked.push(r);
  const out: { src: string; label?: string }[] = [];
  for (const r of picked) {
    const id = Number(ids?.get(r) ?? r);
    try {
      const label = names?.get(r) ?? d.classNames[Number(labels?.get(r))];
      out.push({ src: pngDataUrl(d.images.get(id)), ...(label !== undefined && label !== null ? { label: String(label) } : {}) });
    } catch {
      // An image that fails to decode is left out of the preview; the dataset's own checks report it.
    }
  }
  return out;
}
