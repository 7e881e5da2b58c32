// Gradients to CoOp/VPT prompts through the frozen towers on the webgpu backend (Dawn over Mesa without a GPU).
import { gradientSuite } from './gradient-suite.ts';

gradientSuite('webgpu');
