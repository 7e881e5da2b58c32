// `promptscope model …`: list, download and verify CLIP checkpoints.
import { parseArgs } from 'node:util';
import { formatVerify, verifyModel } from '../model/verify.ts';
import type { BackendPreference } from '../model/backend.ts';

export const MODEL_HELP = `Usage: promptscope model <command>

  ls                                  list models in the model store (and the bundled mini-CLIP)
  pull REPO [--revision R]            download config.json, model.safetensors and tokenizer files of a
                                      Hugging Face repo into the model store (resumes, verifies sha256)
  verify --model DIR --fixture FILE [--backend B]
                                      run a checkpoint on a parity fixture's inputs, print the relative
                                      error of every output; exit 1 if any exceeds 1e-4
`;

export async function modelCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'verify') {
    const { values } = parseArgs({ args: rest, options: { model: { type: 'string' }, fixture: { type: 'string' }, backend: { type: 'string' } } });
    if (!values.model || !values.fixture) {
      process.stderr.write(MODEL_HELP);
      return 2;
    }
    const r = await verifyModel({ modelDir: values.model, fixturePath: values.fixture, backend: (values.backend ?? 'auto') as BackendPreference });
    console.log(formatVerify(r));
    return r.ok ? 0 : 1;
  }
  process.stderr.write(MODEL_HELP);
  return 2;
}
