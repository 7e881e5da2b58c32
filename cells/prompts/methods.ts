// Importing this module registers every built-in method (each file registers itself on import).
import './coop.ts';
import './vpt.ts';
import './upt.ts';
import './linearProbe.ts';
import { registerTrainer } from './registry.ts';
import { UPTTrainer } from './upt.ts';
import { MVLPT_UPT_DEFAULTS, type UPTConfig } from './trainer.ts';

// MVLPT's UPT as its own name, so a study can say method 'upt-mvlpt' and get MVLPT's defaults.
registerTrainer<UPTConfig>('upt-mvlpt', {
  create: () => new UPTTrainer(),
  defaults: MVLPT_UPT_DEFAULTS,
  describe: "MVLPT's UPT: text + deep visual prompts projected to 128 dims through one shared 1-head layer",
});
