// The built-in methods. Each file holds one method — its config type, the paper's defaults, its trainer
// and its registration — and registers itself on import, so adding a method is one new file and one
// line here.
import './coop.ts';
import './vpt.ts';
import './upt.ts';
import './linearProbe.ts';
import './visual-reprogramming.ts';
import './protuning.ts';
import './finetune.ts';
