// Types for bundle.mjs, which stays plain JavaScript: bin/promptscope.js runs it before tsx could load.
export declare const ROOT: string;
export declare const BUNDLE_DIR: string;
export declare const INPUTS_FILE: string;
export declare const INPUTS_FORMAT: number;
export declare function sha256File(path: string): string;
export declare function packageDigest(root?: string): string;
/**
 * A fresh bundle's files (`entry`, the CLI; `kernel` and `engine`, absent in a build from before they were
 * bundled), or `stale` (why the sources must run), or `error` (chooseBundle only: a mode it refuses).
 */
export interface BundleChoice {
  entry?: string;
  kernel?: string;
  engine?: string;
  stale?: string;
  error?: string;
}
export declare function checkBundle(root?: string, dir?: string): BundleChoice;
export declare function chooseBundle(mode?: string, root?: string, dir?: string): BundleChoice;
export declare function importChosen(chosen: BundleChoice, which: 'entry' | 'engine', importSource: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>>;
export declare function bundleStaleness(root?: string, dir?: string): string | undefined;
