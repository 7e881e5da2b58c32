// Child process of the kill -9 harness (resume-harness.ts): one sitting of a trainer of resume-trainers.ts
// on a state directory (resume-faults.ts logs its events and kills it at the event it is told to).
//
//   node --import tsx test/prompts/train-child.ts '{"trainer":"coop","root":DIR,"out":FILE,"events":FILE,"killAt":N}'
//
// stdout: `ready` (training is about to start), `first` (the sitting's first event), `info {json}`,
// `finished` (the result file is written).
import { writeFileSync } from 'node:fs';
import { trainerNamed } from './resume-trainers.ts';
import { runSitting } from './resume-faults.ts';

const args = JSON.parse(process.argv[2]) as { trainer: string; root: string; out: string; events: string; killAt: number; tornFraction?: number };
const result = await runSitting(trainerNamed(args.trainer), args.root, {
  events: args.events,
  killAt: args.killAt,
  tornFraction: args.tornFraction,
  onReady: () => process.stdout.write('ready\n'),
  onFirstEvent: () => process.stdout.write('first\n'),
  onInfo: (facts) => process.stdout.write(`info ${JSON.stringify(facts)}\n`),
});
writeFileSync(args.out, result);
process.stdout.write('finished\n');
