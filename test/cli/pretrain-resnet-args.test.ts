// `cli/pretrain.ts --model resnet`: a malformed stage shape is refused before anything loads or trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runResNetCommand } from '../../cli/pretrain-resnet.ts';

test('pretrain resnet: --depths / --widths must be positive integers, one of each per stage', async () => {
  await assert.rejects(runResNetCommand(['--depths', '1,x,1']), /--depths must be positive integers separated by commas \(one per stage\), got "1,x,1"/);
  await assert.rejects(runResNetCommand(['--widths', '16,0,64']), /--widths must be positive integers/);
  await assert.rejects(runResNetCommand(['--depths', '1,1.5,1']), /--depths must be positive integers/);
  await assert.rejects(runResNetCommand(['--depths', '1,1', '--widths', '16,32,64']), /--depths has 2 stages but --widths has 3/);
});
