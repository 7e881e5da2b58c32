// Types for build.mjs, which stays plain JavaScript so `npm start` and CI can run it without tsx.
export declare const SRC: string;
export declare const DIST: string;
export declare function uiIsStale(): Promise<boolean>;
export declare function buildUi(options?: { minify?: boolean }): Promise<string>;
export declare function ensureUi(): Promise<string>;
