// Binary PPM/PGM writer for test images (the product only reads them: cells/data/images.ts).
import type { DecodedImage } from '../../cells/data/images.ts';

/** Writes a binary PPM (RGB) or PGM (gray). */
export function encodePnm(image: DecodedImage): Uint8Array {
  const header = new TextEncoder().encode(`${image.channels === 3 ? 'P6' : 'P5'}\n${image.width} ${image.height}\n255\n`);
  const out = new Uint8Array(header.length + image.data.length);
  out.set(header);
  out.set(image.data, header.length);
  return out;
}
