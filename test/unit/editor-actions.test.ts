import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stopActionFor } from '../../extension/src/tasks/stop-action.js';
import { isPageControl, isPageInfo, isPageReply } from '../../extension/src/workers/worker-page-protocol.js';
import { TASK_STATES } from '../../runtime/src/events/state.js';

test('revoke is offered before a task starts, terminate while it runs, neither once it ended', () => {
  const got = Object.fromEntries(TASK_STATES.map((s) => [s, stopActionFor(s) ?? null]));
  assert.deepEqual(got, { PENDING: 'revoke', RECEIVED: 'revoke', STARTED: 'terminate', RETRY: 'revoke', SUCCESS: null, FAILURE: null, REVOKED: null, REJECTED: null });
});

test('the worker page protocol: control requests are checked per command before the extension sends them', () => {
  const req = (command: string, args: unknown) => ({ method: 'control', id: 1, params: { command, args } });
  assert.equal(isPageControl(req('pool_grow', { n: 1 })), true);
  assert.equal(isPageControl(req('pool_grow', { n: '1' })), false);
  assert.equal(isPageControl(req('pool_shrink', { n: 1.5 })), false);
  assert.equal(isPageControl(req('autoscale', { max: 4, min: 1 })), true);
  assert.equal(isPageControl(req('autoscale', { max: 4 })), false);
  assert.equal(isPageControl(req('rate_limit', { task_name: 'add', rate_limit: '10/s' })), true);
  assert.equal(isPageControl(req('rate_limit', { task_name: 'add', rate_limit: null })), true);
  assert.equal(isPageControl(req('rate_limit', { task_name: 'add', rate_limit: 10 })), false);
  assert.equal(isPageControl(req('time_limit', { task_name: 'add', soft: 1, hard: null })), true);
  assert.equal(isPageControl(req('time_limit', { task_name: 'add', soft: 'x', hard: null })), false);
  assert.equal(isPageControl(req('shutdown', {})), true);
  // Only the page's commands: no other control method goes through it.
  assert.equal(isPageControl(req('revoke', { task_id: 'x' })), false);
  assert.equal(isPageControl(req('constructor', {})), false);
  assert.equal(isPageControl({ method: 'control', id: '1', params: { command: 'shutdown', args: {} } }), false);
  assert.equal(isPageInfo({ method: 'info', params: { hostname: 'w@h' } }), true);
  assert.equal(isPageInfo({ method: 'info', params: {} }), false);
  assert.equal(isPageReply({ method: 'reply', id: 2, ok: true, text: 'ok' }), true);
  assert.equal(isPageReply({ method: 'reply', id: 2, ok: true }), false);
});
