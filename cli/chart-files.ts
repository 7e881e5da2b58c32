// The SVG and PNG files of a chart for `promptscope run --out`, kept in the cache. Drawing them was most of a
// warm re-render's output time (vega and vega-lite loaded, ~0.1 s of SVG and ~0.15 s of PNG a chart, resvg
// reading the system's fonts again for each; bench/edit-answer.ts), and a warm re-render draws the same
// charts again. The key holds everything the two files depend on: the spec exactly as written (key order,
// undefined and -0 told apart), the three renderers' versions, the PNG scale, the time zone and locale
// (vega formats dates with them) and the installed fonts (resvg draws text with the system's fonts). A spec
// that is not plain data (a Date, a typed array, a class instance, a function) is drawn every time.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cache } from '../cells/exec/cache.ts';
import { sha256 } from '../cells/util/hash.ts';
import type { VegaLiteChart } from '../cells/plots/vegalite.ts';

const STAGE = 'chart-files';
/** Bump when what is drawn for a spec changes (options of renderSvg or svgToPng). */
const VERSION = 1;
const SCALE = 2;

export interface ChartFiles {
  svg: string;
  png: Uint8Array;
}

/** The chart's files: from the cache when this spec was drawn before with the same renderers and fonts. */
export async function chartFiles(chart: VegaLiteChart, cache?: Cache): Promise<ChartFiles> {
  const spec = exactJson(chart.spec);
  if (!cache || spec === undefined) return draw(chart);
  const key = sha256(JSON.stringify({ stage: STAGE, version: VERSION, spec, scale: SCALE, renderers: renderers(), place: place(), fonts: await (fontList ??= fonts()) }));
  const dir = await cache.lookup(key);
  if (dir) {
    try {
      return { svg: await readFile(join(dir, 'chart.svg'), 'utf8'), png: new Uint8Array(await readFile(join(dir, 'chart.png'))) };
    } catch {
      // Removed by gc between lookup and read: draw it again.
    }
  }
  const t0 = Date.now();
  const files = await draw(chart);
  // Best effort: a full disk or a read-only cache must not fail the run's outputs.
  await cache.store({ key, stage: STAGE, version: VERSION, params: { scale: SCALE }, inputs: [], elapsedMs: Date.now() - t0 }, async (tmp) => {
    await writeFile(join(tmp, 'chart.svg'), files.svg);
    await writeFile(join(tmp, 'chart.png'), files.png);
  }).catch(() => undefined);
  return files;
}

async function draw(chart: VegaLiteChart): Promise<ChartFiles> {
  // Loaded on a miss only: a re-render whose charts are all cached never loads vega.
  const { renderSvg, svgToPng } = await import('../cells/plots/vegalite.ts');
  const svg = await renderSvg(chart);
  return { svg, png: svgToPng(svg, SCALE) };
}

/**
 * The spec as JSON in which two specs are equal only if vega receives equal input: key order kept, and
 * undefined, -0, NaN and ±Infinity written as tagged strings (JSON.stringify would drop or merge them).
 * undefined when the spec holds anything else than plain data.
 */
export function exactJson(value: unknown): string | undefined {
  let plain = true;
  const text = JSON.stringify(value, function (this: Record<string, unknown>, k: string, v: unknown) {
    const raw = this[k];
    if (raw === undefined) return '\u0000undefined';
    if (typeof raw === 'number') return Number.isFinite(raw) && !Object.is(raw, -0) ? raw : `\u0000${Object.is(raw, -0) ? '-0' : String(raw)}`;
    if (raw === null || typeof raw === 'string' || typeof raw === 'boolean') return raw;
    if (typeof raw === 'object' && (Array.isArray(raw) || [Object.prototype, null].includes(Object.getPrototypeOf(raw)))) return v;
    plain = false;
    return null;
  });
  return plain ? text : undefined;
}

let rendererVersions: Record<string, string> | undefined;
/** The installed versions of vega, vega-lite and resvg (their package.json, found from their entry files). */
function renderers(): Record<string, string> {
  if (!rendererVersions) {
    rendererVersions = {};
    for (const name of ['vega', 'vega-lite', '@resvg/resvg-js']) {
      let dir = dirname(fileURLToPath(import.meta.resolve(name)));
      while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
        if (dirname(dir) === dir) throw new Error(`no package.json of ${name}`);
        dir = dirname(dir);
      }
      rendererVersions[name] = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
    }
  }
  return rendererVersions;
}

let placeOnce: { timeZone: string; locale: string } | undefined;
function place(): { timeZone: string; locale: string } {
  // Read once a process (ICU's first use costs ~15 ms): a run does not change its time zone or locale.
  if (!placeOnce) {
    const o = Intl.DateTimeFormat().resolvedOptions();
    placeOnce = { timeZone: o.timeZone, locale: o.locale };
  }
  return placeOnce;
}

// Listed once a process, by the first chart: fonts installed during a run are for the next one.
let fontList: Promise<string[]> | undefined;

/**
 * What resvg's `loadSystemFonts` reads, as names, sizes and modification times: the font folders of this
 * platform (and fontconfig's configuration on Linux). A font installed or removed is a new key.
 */
async function fonts(): Promise<string[]> {
  const home = homedir();
  const dirs = process.platform === 'darwin'
    ? ['/Library/Fonts', '/System/Library/Fonts', '/Network/Library/Fonts', join(home, 'Library/Fonts')]
    : process.platform === 'win32'
      ? [join(process.env.WINDIR ?? 'C:\\Windows', 'Fonts'), join(process.env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'Microsoft', 'Windows', 'Fonts')]
      : ['/usr/share/fonts', '/usr/local/share/fonts', join(home, '.fonts'), join(home, '.local/share/fonts'), join(process.env.XDG_DATA_HOME ?? join(home, '.local/share'), 'fonts'), '/etc/fonts'];
  const seen: string[] = [];
  for (const dir of [...new Set(dirs)]) {
    const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const s = await stat(join(dir, name)).catch(() => null);
      if (s?.isFile()) seen.push(`${join(dir, name)} ${s.size} ${s.mtimeMs}`);
    }
  }
  return seen;
}
