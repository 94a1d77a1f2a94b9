import { test } from 'node:test';
import assert from 'node:assert/strict';
import { URL_BROKERS, validateBrokerUrl } from '../../extension/src/broker/broker-choices.js';

const by = (c: string) => URL_BROKERS.find((b) => b.choice === c)!;

test('Select Broker offers Redis, AMQP and PostgreSQL; each default passes its own check', () => {
  assert.deepEqual(URL_BROKERS.map((b) => b.choice), ['redis', 'amqp', 'postgres']);
  for (const b of URL_BROKERS) assert.equal(validateBrokerUrl(b, b.value), undefined, b.name);
});

test('the PostgreSQL prompt takes postgres:// and postgresql:// URLs with options, refuses the rest with the reason', () => {
  const pg = by('postgres');
  assert.equal(validateBrokerUrl(pg, ' postgres://app@db:5432/jobs?schema=sprig&listen_url=postgres%3A%2F%2Fapp%40db-direct%2Fjobs '), undefined);
  assert.equal(validateBrokerUrl(pg, 'postgresql://app@db/jobs'), undefined);
  assert.match(validateBrokerUrl(pg, 'redis://127.0.0.1:6379/0')!, /postgres:\/\/ or postgresql:\/\//);
  assert.match(validateBrokerUrl(pg, 'db:5432/jobs')!, /Must start with/);
  assert.match(validateBrokerUrl(pg, 'postgres://app@[bad/jobs')!, /Not a valid URL/);
  assert.match(validateBrokerUrl(by('redis'), 'postgres://x/y')!, /redis:\/\/ or rediss:\/\//);
  assert.equal(validateBrokerUrl(by('amqp'), 'amqps://u@h:5671//'), undefined);
});
