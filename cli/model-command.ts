// `promptscope model …`: list, download and verify CLIP checkpoints.
import { parseArgs } from 'node:util';
import { formatVerify, verifyModel, defaultModelStore, listModels, pullModel, HF_ENDPOINT, type BackendPreference } from '../cells/model/index.ts';

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
  if (sub === 'ls') {
    const { values } = parseArgs({ args: rest, options: { store: { type: 'string' } } });
    const models = await listModels(values.store ?? defaultModelStore());
    for (const m of models) console.log(`${m.repo.padEnd(40)} ${m.revision.padEnd(10)} ${(m.bytes / 1e6).toFixed(1).padStart(8)} MB  ${m.source}  ${m.dir}`);
    if (!models.length) console.log('no models; try: promptscope model pull openai/clip-vit-base-patch16');
    return 0;
  }
  if (sub === 'pull') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { revision: { type: 'string' }, store: { type: 'string' }, endpoint: { type: 'string' } },
    });
    if (positionals.length !== 1) {
      process.stderr.write(MODEL_HELP);
      return 2;
    }
    let last = 0;
    const r = await pullModel(positionals[0], {
      revision: values.revision,
      store: values.store,
      endpoint: values.endpoint ?? process.env.HF_ENDPOINT ?? HF_ENDPOINT,
      onProgress: ({ file, received, total }) => {
        if (Date.now() - last < 500) return;
        last = Date.now();
        const pct = total ? ` ${((100 * received) / total).toFixed(0)}%` : '';
        process.stderr.write(`${file}: ${(received / 1e6).toFixed(1)} MB${pct}\n`);
      },
    });
    for (const f of r.files) console.log(`${f.name.padEnd(24)} ${(f.size / 1e6).toFixed(1).padStart(8)} MB  sha256 ${f.sha256.slice(0, 16)}  ${f.cached ? 'already present' : `verified by ${f.verifiedBy}`}`);
    console.log(`${r.repo}@${r.revision} → ${r.dir}`);
    return 0;
  }
  process.stderr.write(MODEL_HELP);
  return 2;
}
