import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initBackend, currentBackend, wasmDir } from '../../cells/model/backend.ts';
import { existsSync } from 'node:fs';

test('wasm binaries are found in node_modules', () => {
  assert.ok(existsSync(wasmDir() + 'tfjs-backend-wasm-simd.wasm'), wasmDir());
});

test('PROMPTSCOPE_BACKEND replaces auto; an explicit choice wins; bad names are clear errors', async () => {
  const saved = process.env.PROMPTSCOPE_BACKEND;
  try {
    process.env.PROMPTSCOPE_BACKEND = 'cpu';
    assert.equal(await initBackend('auto'), 'cpu');
    assert.equal(currentBackend(), 'cpu');
    assert.equal(await initBackend('wasm'), 'wasm'); // explicit beats the environment
    process.env.PROMPTSCOPE_BACKEND = 'tpu';
    await assert.rejects(initBackend(), /PROMPTSCOPE_BACKEND="tpu" is not a backend/);
    delete process.env.PROMPTSCOPE_BACKEND;
    // No GPU device on the build machines: auto picks wasm there (webgpu when a real adapter exists).
    assert.ok(['wasm', 'webgpu'].includes(await initBackend()));
  } finally {
    if (saved === undefined) delete process.env.PROMPTSCOPE_BACKEND;
    else process.env.PROMPTSCOPE_BACKEND = saved;
  }
});

test('wasm errors stay readable (the Emscripten glue does not rethrow process-wide)', async () => {
  await initBackend('wasm');
  assert.equal(process.listeners('unhandledRejection').filter((l) => /throw reason/.test(String(l))).length, 0);
  assert.equal(process.listeners('uncaughtException').filter((l) => /ExitStatus/.test(String(l))).length, 0);
});
