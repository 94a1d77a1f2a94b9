import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Transport, type NotificationHandlers } from '../../webview-ui/src/transport.js';

/** The webview's host, faked: what the monitor posts, and a way to deliver the extension's messages. */
function host() {
  const posted: unknown[] = [];
  let listener: ((e: { data: unknown }) => void) | undefined;
  const transport = new Transport({ postMessage: (m) => posted.push(m) });
  const got: Array<[string, unknown]> = [];
  const on: NotificationHandlers = {
    snapshot: (m) => got.push(['snapshot', m]),
    events: (m) => got.push(['events', m]),
    connection: (m) => got.push(['connection', m]),
    reveal: (m) => got.push(['reveal', m]),
    paused: (m) => got.push(['paused', m]),
  };
  transport.listen({ addEventListener: (_type, l) => (listener = l) }, on);
  return { transport, posted, got, deliver: (data: unknown) => listener!({ data }) };
}

test('a request carries a new id; the reply of that id settles it, in any order; stray replies are dropped', async () => {
  const { transport, posted, deliver } = host();
  const a = transport.request('retryTask', { taskId: 't1' });
  const b = transport.request('revokeTask', { taskId: 't2' });
  assert.deepEqual(posted, [
    { method: 'retryTask', id: 1, params: { taskId: 't1' } },
    { method: 'revokeTask', id: 2, params: { taskId: 't2' } },
  ]);
  deliver({ method: 'reply', id: 7, ok: true });
  deliver({ method: 'reply', id: 2, ok: false, error: 'nope' });
  deliver({ method: 'reply', id: 1, ok: true, result: { newTaskId: 't1b' } });
  assert.deepEqual(await b, { method: 'reply', id: 2, ok: false, error: 'nope' });
  assert.deepEqual((await a).result, { newTaskId: 't1b' });
  transport.send({ method: 'ready' });
  assert.deepEqual(posted[2], { method: 'ready' });
});

test('notifications go to the handler of their method once their guard passed', () => {
  const { got, deliver } = host();
  deliver({ method: 'events', params: { events: [] } });
  deliver({ method: 'connection', params: { brokerUrl: 'sprig://', connected: true } });
  deliver({ method: 'reveal', params: { taskId: 't1' } });
  deliver({ method: 'snapshot', params: { state: { workers: [], tasks: { count: 0, fields: [], columns: {} }, eventCount: 0 }, paused: false, maxTasks: 10, brokerUrl: '', connected: true } });
  deliver({ method: 'reveal', params: { taskId: 1 } });
  deliver({ method: 'events', params: {} });
  deliver({ method: 'nonsense' });
  deliver('events');
  assert.deepEqual(got.map(([k]) => k), ['events', 'connection', 'reveal', 'snapshot']);
});
