// `promptscope serve`: the notebook UI over HTTP on loopback, guarded by a random token.
export const SERVE_HELP = `Usage: promptscope serve [NOTEBOOK] [--port P] [--host H] [--cache DIR]

Serves the notebook UI at http://127.0.0.1:P/?token=… (the URL is printed). Every request needs the
token. Binds 127.0.0.1 unless --host says otherwise; to reach a remote machine, tunnel:
  ssh -L 8888:127.0.0.1:8888 gpu-box  then open the printed URL locally.
`;

export async function serveCommand(_args: string[]): Promise<number> {
  process.stderr.write('serve is not available yet\n');
  return 2;
}
