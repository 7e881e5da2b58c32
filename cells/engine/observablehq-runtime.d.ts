// The runtime ships no types; this is the part of its API the session uses.
declare module '@observablehq/runtime' {
  export class Runtime {
    constructor(builtins?: Record<string, () => unknown>);
    module(): unknown;
    dispose(): void;
  }
}
