// The prebuilt CLI (bin/build.mjs writes it at install) and the check that it was built from the sources
// as they are now. bin/promptscope.js runs the bundle only when this check passes and otherwise runs the
// TypeScript sources through tsx, so an edited checkout never runs old code: it only starts slower until
// `npm run build` (or the next `npm ci`) rebuilds the bundle.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where the bundle's files and its list of inputs are written (ignored by git: built on each machine). */
export const BUNDLE_DIR = join(ROOT, 'bin', 'dist');
export const INPUTS_FILE = join(BUNDLE_DIR, 'inputs.json');
/** Bump when the form of inputs.json changes. */
export const INPUTS_FORMAT = 3;

export function sha256File(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * The fields of the project's own package.json that shape the bundle (how its imports resolve), hashed.
 * Not the whole file: a packager rewrites it (electron-builder sets "main" and drops the scripts and the
 * devDependencies), and the bundle built from these sources must still count as fresh in the packaged app.
 * The dependencies' versions are checked through their own package.json files.
 */
export function packageDigest(root = ROOT) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const shaping = Object.fromEntries(['name', 'type', 'imports', 'exports'].map((k) => [k, pkg[k] ?? null]));
  return createHash('sha256').update(JSON.stringify(shaping)).digest('hex');
}

/**
 * The bundle in `dir` if it can stand for the sources under `root` right now ({ entry }: the file to
 * import), else why not ({ stale }). inputs.json names the entry (its file name carries a content hash)
 * and every source file it was built from, with size, mtime and SHA-256, and the package.json fields that
 * shape it (packageDigest); all must still exist with the same contents. Size and mtime unchanged are taken as unchanged (stat only, ~1 ms for the whole tree); any
 * other file is hashed, so a touched but unchanged file still counts as fresh and an edit that kept the
 * size and mtime is the only one missed (as make would miss it). One read of inputs.json decides both, and
 * a rebuild replaces it last and in one rename, so entry and inputs always belong to the same build.
 */
export function checkBundle(root = ROOT, dir = BUNDLE_DIR) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
  } catch {
    return { stale: 'no bundle has been built (npm run build)' };
  }
  if (manifest?.format !== INPUTS_FORMAT || typeof manifest.files !== 'object' || typeof manifest.entry !== 'string') {
    return { stale: 'the bundle was written by another version of bin/build.mjs' };
  }
  const entry = join(dir, manifest.entry);
  try {
    statSync(entry);
  } catch {
    return { stale: 'the bundle file is missing' };
  }
  let digest;
  try {
    digest = packageDigest(root);
  } catch {
    return { stale: 'package.json is missing or not JSON' };
  }
  if (digest !== manifest.package) return { stale: "package.json's name, type, imports or exports changed since the bundle was built" };
  for (const [rel, rec] of Object.entries(manifest.files)) {
    const path = join(root, rel);
    let st;
    try {
      st = statSync(path);
    } catch {
      return { stale: `${rel} is gone` };
    }
    if (st.size === rec.size && st.mtimeMs === rec.mtimeMs) continue;
    if (st.size !== rec.size || sha256File(path) !== rec.sha256) return { stale: `${rel} changed since the bundle was built` };
  }
  // The serve kernel's and the desktop engine's entries (a build from before they were bundled has none:
  // they start through tsx).
  const own = (name) => (typeof name === 'string' ? join(dir, name) : undefined);
  return { entry, kernel: own(manifest.kernel), engine: own(manifest.engine) };
}

/**
 * What to run for PROMPTSCOPE_BUNDLE=`mode`: the fresh bundle ({ entry, kernel, engine }), or the sources
 * ({ stale }: why not); `off` always the sources; `require` without a fresh bundle, and an unknown mode, are
 * { error }. bin/promptscope.js decides here for the CLI and hands the kernel's entry to `promptscope serve`;
 * bin/engine.mjs decides here for the desktop app's engine and hands the kernel's entry to its server.
 */
export function chooseBundle(mode = 'auto', root = ROOT, dir = BUNDLE_DIR) {
  if (!['auto', 'off', 'require'].includes(mode)) return { error: `PROMPTSCOPE_BUNDLE="${mode}" is not one of auto, off, require` };
  const found = mode === 'off' ? { stale: 'PROMPTSCOPE_BUNDLE=off' } : checkBundle(root, dir);
  if (found.stale && mode === 'require') return { error: `PROMPTSCOPE_BUNDLE=require but the bundle cannot be used: ${found.stale}; run npm run build` };
  return found;
}

/**
 * The module `which` ('entry' or 'engine') of a chooseBundle answer: the bundled file when there is one,
 * else `importSource()` (the caller's import of the TypeScript, written out so tools see the dependency)
 * through tsx, registered here so no --import flag is needed.
 */
export async function importChosen(chosen, which, importSource) {
  if (chosen[which]) return import(pathToFileURL(chosen[which]).href);
  const { register } = await import('tsx/esm/api');
  register();
  return importSource();
}

/** Why the bundle cannot be used, or undefined when it can. */
export function bundleStaleness(root = ROOT, dir = BUNDLE_DIR) {
  return checkBundle(root, dir).stale;
}
