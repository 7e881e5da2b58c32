// CLIP parity on the webgpu backend. Without a GPU this runs on Dawn's OpenGL ES backend over Mesa's
// llvmpipe (cells/model/backend.ts sets EGL_PLATFORM=surfaceless); the same 1e-4 bound holds there
// (measured ≤ 7e-7). If Mesa/EGL is missing, initBackend throws and this test fails: install the packages
// listed in .ci/run rather than skipping it.
import { paritySuite } from './parity-suite.ts';

paritySuite('webgpu');
