// Which notebook the app was asked to open: the last .html argument (a file association, `npm start
// file.html`, or a second launch). Electron's own flags and the main script are skipped.
export function notebookFromArgv(argv: string[], mainScript?: string): string | null {
  for (let i = argv.length - 1; i >= 1; i--) {
    const a = argv[i];
    if (a.startsWith('-') || a === mainScript) continue;
    if (/\.html?$/i.test(a)) return a;
  }
  return null;
}
