import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buildTaskMessage, encodeEnvelope, decodeEnvelope, parseTaskMessage, type TransportMessage } from '../../runtime/src/protocol/message.js';
import { serializers } from '../../runtime/src/serialization/registry.js';
import { configureSigning, SignatureError, SIGNED_CONTENT_TYPE } from '../../runtime/src/serialization/signed.js';
import { ConfigError, ContentDisallowedError, ProtocolError } from '../../runtime/src/errors.js';
import { tmpDir } from '../helpers.js';

const priv = (k: KeyObject) => String(k.export({ type: 'pkcs8', format: 'pem' }));
const pub = (k: KeyObject) => String(k.export({ type: 'spki', format: 'pem' }));
const A = generateKeyPairSync('ed25519');
const B = generateKeyPairSync('ed25519');
const R = generateKeyPairSync('rsa', { modulusLength: 2048 });
const E = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ONLY_SIGNED = serializers.resolveAccept(['signed']);

afterEach(() => configureSigning(undefined));

function signedBy(key: KeyObject, certId: string, extra: Partial<Parameters<typeof buildTaskMessage>[0]> = {}): TransportMessage {
  configureSigning({ key: priv(key), certId });
  const m = buildTaskMessage({ name: 'tasks.add', args: [2, 3], serializer: 'signed', countdown: 10, ...extra });
  configureSigning(undefined);
  return decodeEnvelope(encodeEnvelope(m));
}

function asWorker(trusted: Record<string, string>) {
  configureSigning({ trusted });
}

test('a signed message verifies with the trusted public key (ed25519, RSA-PSS, ECDSA)', () => {
  for (const [kp, id] of [[A, 'a'], [R, 'r'], [E, 'e']] as const) {
    const m = signedBy(kp.privateKey, id, { compression: 'gzip' });
    assert.equal(m.contentType, SIGNED_CONTENT_TYPE);
    asWorker({ [id]: pub(kp.publicKey) });
    const req = parseTaskMessage(m, { accept: ONLY_SIGNED });
    assert.deepEqual(req.args, [2, 3]);
  }
});

test('unsigned content is refused by a worker that accepts only signed', () => {
  asWorker({ a: pub(A.publicKey) });
  const plain = decodeEnvelope(encodeEnvelope(buildTaskMessage({ name: 'tasks.add', args: [1, 1] })));
  assert.throws(() => parseTaskMessage(plain, { accept: ONLY_SIGNED }), ContentDisallowedError);
  // ... and so is a plain body relabelled as signed
  plain.contentType = SIGNED_CONTENT_TYPE;
  assert.throws(() => parseTaskMessage(plain, { accept: ONLY_SIGNED }), SignatureError);
});

test('tampering with the body is detected', () => {
  const m = signedBy(A.privateKey, 'a');
  asWorker({ a: pub(A.publicKey) });
  const env = JSON.parse(m.body.toString()) as { body: string };
  env.body = Buffer.from(JSON.stringify([[200, 300], {}, {}])).toString('base64');
  const tampered = { ...m, body: Buffer.from(JSON.stringify(env)) };
  assert.throws(() => parseTaskMessage(tampered, { accept: ONLY_SIGNED }), (e: Error) => e instanceof SignatureError && /signature check failed/.test(e.message));
});

test('tampering with each covered header is detected', () => {
  const m = signedBy(A.privateKey, 'a');
  asWorker({ a: pub(A.publicKey) });
  assert.doesNotThrow(() => parseTaskMessage(m, { accept: ONLY_SIGNED }));
  const changes: Record<string, unknown> = { task: 'tasks.rm_rf', id: 'other-id', eta: null, expires: '2099-01-01T00:00:00+00:00', retries: 5, timelimit: [1, null], root_id: 'x', parent_id: 'y' };
  for (const [k, v] of Object.entries(changes)) {
    const t = { ...m, headers: { ...m.headers, [k]: v } };
    assert.throws(() => parseTaskMessage(t, { accept: ONLY_SIGNED }), SignatureError, `header ${k}`);
  }
  // A header outside the signed set (routing detail) may change.
  assert.doesNotThrow(() => parseTaskMessage({ ...m, headers: { ...m.headers, origin: 'elsewhere' } }, { accept: ONLY_SIGNED }));
});

test('a key id nobody trusts, or the right id with the wrong key, is refused', () => {
  const unknown = signedBy(B.privateKey, 'b');
  const wrongKey = signedBy(B.privateKey, 'a');
  // an RSA signature claiming an ed25519 key id
  const wrongAlg = signedBy(R.privateKey, 'a');
  asWorker({ a: pub(A.publicKey) });
  assert.throws(() => parseTaskMessage(unknown, { accept: ONLY_SIGNED }), /key id "b" is not trusted/);
  assert.throws(() => parseTaskMessage(wrongKey, { accept: ONLY_SIGNED }), /signature check failed/);
  assert.throws(() => parseTaskMessage(wrongAlg, { accept: ONLY_SIGNED }), /algorithm rsa-pss-sha256 does not match/);
});

test('rotation: several trusted keys at once, from files (public keys and certificates)', () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'old.pem'), pub(A.publicKey));
  fs.writeFileSync(path.join(dir, 'new.pem'), pub(B.publicKey));
  fs.writeFileSync(path.join(dir, 'new.key'), priv(B.privateKey));
  const old = signedBy(A.privateKey, 'old');
  configureSigning({ keyFile: path.join(dir, 'new.key'), certId: 'new' });
  const fresh = decodeEnvelope(encodeEnvelope(buildTaskMessage({ name: 'tasks.add', args: [1], serializer: 'signed' })));
  configureSigning({ trusted: { old: path.join(dir, 'old.pem'), new: path.join(dir, 'new.pem') } });
  assert.deepEqual(parseTaskMessage(old, { accept: ONLY_SIGNED }).args, [2, 3]);
  assert.deepEqual(parseTaskMessage(fresh, { accept: ONLY_SIGNED }).args, [1]);
  // retire the old key
  configureSigning({ trusted: { new: path.join(dir, 'new.pem') } });
  assert.throws(() => parseTaskMessage(old, { accept: ONLY_SIGNED }), SignatureError);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('signature errors are ProtocolErrors (the consumer dead-letters them) with code E_SIGNATURE', () => {
  asWorker({});
  try {
    parseTaskMessage(signedBy(A.privateKey, 'a'), { accept: ONLY_SIGNED });
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ProtocolError);
    assert.equal((e as ProtocolError).code, 'E_SIGNATURE');
  }
});

test('signing without a key, or with a bad key file, is a ConfigError', () => {
  assert.throws(() => buildTaskMessage({ name: 'x', serializer: 'signed' }), ConfigError);
  assert.throws(() => configureSigning({ keyFile: '/nonexistent/key.pem' }), ConfigError);
  assert.throws(() => configureSigning({ trusted: { x: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n' } }), ConfigError);
  assert.throws(() => configureSigning({ key: priv(A.privateKey), certId: 'b', trusted: { b: pub(B.publicKey) } }), /different public key/);
});

test('the signer trusts its own key (a worker re-signs the retries it publishes)', () => {
  configureSigning({ key: priv(A.privateKey), certId: 'a' });
  const m = decodeEnvelope(encodeEnvelope(buildTaskMessage({ name: 'tasks.add', args: [9], serializer: 'signed', retries: 1 })));
  assert.deepEqual(parseTaskMessage(m, { accept: ONLY_SIGNED }).args, [9]);
});
