// The notebook's own error, apart from the compiler: the command line reports it without loading the
// compiler (whose transpiler pulls in TypeScript, seconds of start-up).
export class NotebookError extends Error {
  constructor(message: string, readonly cellId?: number, readonly line?: number) {
    super(message);
    this.name = 'NotebookError';
  }
}
