import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../runtime/src/util/registry.js';
import { serializers } from '../../runtime/src/serialization/registry.js';
import { compressors } from '../../runtime/src/compression/registry.js';
import { DecodeError } from '../../runtime/src/errors.js';

test('one registry: by name, alias and content type; unregister drops all three', () => {
  const r = new Registry<{ name: string; contentType: string }>((key, known) => new Error(`no ${key} in ${known.join(',')}`));
  r.register({ name: 'a', contentType: 'application/x-a' }, ['alpha']);
  r.register({ name: 'b', contentType: 'application/x-b' });
  assert.equal(r.get('alpha').name, 'a');
  assert.equal(r.get('application/x-a').name, 'a');
  assert.equal(r.forContentType('alpha'), undefined, 'content-type lookups do not take names');
  assert.deepEqual(r.names(), ['a', 'b'], 'aliases are not names');
  r.unregister('alpha');
  assert.equal(r.has('a') || r.has('alpha') || r.has('application/x-a'), false);
  assert.throws(() => r.get('a'), /no a in b/);
});

test('the serializer and compression registries refuse unknown names with a DecodeError', () => {
  assert.throws(() => serializers.get('pickle'), (e: unknown) => e instanceof DecodeError && /unknown serializer "pickle" \(known: json, /.test(e.message));
  assert.throws(() => compressors.get('lzma'), (e: unknown) => e instanceof DecodeError && /unknown compression "lzma" \(known: gzip, /.test(e.message));
});
