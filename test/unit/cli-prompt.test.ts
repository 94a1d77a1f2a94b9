import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { canPrompt, confirm } from '../../runtime/src/cli/prompt.js';

function terminal(answer: string | null): { input: PassThrough & { isTTY: boolean }; output: PassThrough; asked: () => string } {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = new PassThrough();
  let asked = '';
  output.on('data', (d: Buffer) => (asked += d.toString()));
  setImmediate(() => (answer === null ? input.end() : input.write(answer)));
  return { input, output, asked: () => asked };
}

test('confirm: y or yes goes ahead; anything else, an empty line or a closed stdin does not', async () => {
  for (const [answer, want] of [['y\n', true], ['YES\n', true], ['\n', false], ['no\n', false], ['yess\n', false], [null, false]] as const) {
    const t = terminal(answer);
    assert.equal(await confirm('Delete 3 messages?', t), want, JSON.stringify(answer));
    assert.match(t.asked(), /^Delete 3 messages\? \[y\/N\] $/);
  }
});

test('canPrompt: only with a terminal on stdin', () => {
  assert.equal(canPrompt({ input: Object.assign(new PassThrough(), { isTTY: true }) }), true);
  assert.equal(canPrompt({ input: new PassThrough() }), false);
});
