// Pictures as a cell output: images the UI shows as a grid of inline PNGs (and `promptscope run` lists).
import { PNG } from 'pngjs';

/** Decoded pixels, row-major, 1 (grey) or 3+ channels (structural: any decoder's image fits). */
export interface GridImage {
  width: number;
  height: number;
  channels: number;
  data: ArrayLike<number>;
}

/** Images as an output the UI shows as a grid of inline PNGs (`scale`: integer nearest-neighbour upscaling). */
export function imageGrid(list: { image: GridImage; label?: string }[], opts: { scale?: number } = {}) {
  const k = Math.max(1, Math.round(opts.scale ?? 1));
  const items = list.map(({ image: img, label }) => {
    const png = new PNG({ width: img.width * k, height: img.height * k });
    for (let y = 0; y < img.height * k; y++) {
      for (let x = 0; x < img.width * k; x++) {
        const i = (Math.floor(y / k) * img.width + Math.floor(x / k)) * img.channels, o = (y * img.width * k + x) * 4;
        for (let c = 0; c < 3; c++) png.data[o + c] = img.data[i + (img.channels >= 3 ? c : 0)];
        png.data[o + 3] = 255;
      }
    }
    return { png: new Uint8Array(PNG.sync.write(png)), label };
  });
  return { kind: 'images' as const, items };
}
