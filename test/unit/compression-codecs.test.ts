import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { compressors, registerCompressor } from '../../runtime/src/compression/registry.js';
import { bzip2Compress } from '../../runtime/src/compression/bzip2-encode.js';
import { bzip2Decompress } from '../../runtime/src/compression/bzip2-decode.js';
import { buildTaskMessage, parseTaskMessage } from '../../runtime/src/protocol/message.js';
import { DecodeError, MessageTooLargeError } from '../../runtime/src/errors.js';

const SAMPLES: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('a'),
  Buffer.from('hello hello hello world'),
  Buffer.alloc(10_000, 0x61),
  Buffer.from('ab'.repeat(20_000)),
  randomBytes(20_000),
  Buffer.from(JSON.stringify([[...Array(5000).keys()], { k: 'v'.repeat(300) }, {}])),
  Buffer.concat([randomBytes(300), Buffer.alloc(600, 7), Buffer.from('xyz'.repeat(100_000))]),
];

// The reference tools (Debian's bzip2, python3's zlib/bz2) are on every machine of this kind; a
// missing one fails the test (ENOENT) rather than skipping it.

test('every registered compressor round-trips', () => {
  for (const name of compressors.names()) {
    const c = compressors.get(name);
    for (const s of SAMPLES) assert.ok(c.decompress(c.compress(s), s.length + 1).equals(s), `${name} on ${s.length} bytes`);
  }
});

test('kombu names and aliases', () => {
  assert.equal(compressors.get('bzip').name, 'bzip2');
  assert.equal(compressors.get('application/x-bz2').name, 'bzip2');
  assert.equal(compressors.get('zlib').contentType, 'application/x-gzip');
  assert.equal(compressors.get('application/x-zlib').name, 'x-zlib');
  const hasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
  assert.equal(compressors.has('zstd'), hasZstd, 'zstd is registered exactly when node:zlib has it');
  if (hasZstd) assert.equal(compressors.get('zstandard').contentType, 'application/zstd');
});

test("gzip writes zlib format like kombu (zlib.compress) and reads real gzip too", () => {
  const data = Buffer.from('celery '.repeat(100));
  const z = compressors.get('gzip').compress(data);
  assert.ok(zlib.inflateSync(z).equals(data));
  assert.ok(compressors.get('gzip').decompress(zlib.gzipSync(data), 10_000).equals(data));
  const py = execFileSync('python3', ['-c', 'import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))'], { input: z });
  assert.ok(py.equals(data));
});

test('bzip2: our streams decode with the reference bzip2, and its streams decode with ours', () => {
  for (const s of SAMPLES) {
    const ours = bzip2Compress(s);
    assert.ok(execFileSync('bzip2', ['-dc'], { input: ours, maxBuffer: 1 << 28 }).equals(s), `bzip2 -d of ours, ${s.length} bytes`);
    for (const level of ['-1', '-9']) {
      const ref = execFileSync('bzip2', ['-c', level], { input: s, maxBuffer: 1 << 28 });
      assert.ok(bzip2Decompress(ref, s.length).equals(s), `ours of bzip2 ${level}, ${s.length} bytes`);
    }
  }
});

test("bzip2: Python's bz2 (what kombu uses) reads ours", () => {
  const s = Buffer.from(JSON.stringify([[1, 2], { x: 'y'.repeat(500) }, {}]));
  const out = execFileSync('python3', ['-c', 'import sys, bz2; sys.stdout.buffer.write(bz2.decompress(sys.stdin.buffer.read()))'], { input: bzip2Compress(s) });
  assert.ok(out.equals(s));
});

test('bzip2: multi-block input and concatenated streams', () => {
  const big = Buffer.concat([randomBytes(150_000), Buffer.from('q'.repeat(200_000))]);
  const z = bzip2Compress(big, 1);
  assert.ok(bzip2Decompress(z, big.length).equals(big));
  const two = Buffer.concat([bzip2Compress(Buffer.from('one ')), bzip2Compress(Buffer.from('two'))]);
  assert.equal(bzip2Decompress(two, 100).toString(), 'one two');
});

test('bzip2: corrupt input is a DecodeError, never a hang or a crash', () => {
  const good = bzip2Compress(Buffer.from(JSON.stringify({ a: [...Array(500).keys()] })));
  const c = compressors.get('bzip2');
  let rejected = 0;
  for (let i = 0; i < 300; i++) {
    const bad = Buffer.from(good);
    const pos = 4 + ((i * 7919) % (bad.length - 4));
    bad[pos]! ^= 1 << (i % 8);
    try {
      c.decompress(bad, 1 << 20);
    } catch (e) {
      assert.ok(e instanceof DecodeError || e instanceof MessageTooLargeError, String(e));
      rejected++;
    }
  }
  assert.ok(rejected > 250, `${rejected} of 300 flipped bits detected`);
  assert.throws(() => c.decompress(Buffer.from('not bzip2'), 100), DecodeError);
  assert.throws(() => c.decompress(good.subarray(0, good.length - 6), 1 << 20), DecodeError);
});

test('decompression bombs are refused by every compressor, not expanded', () => {
  const bomb = Buffer.alloc(50 * 1024 * 1024, 0);
  for (const name of compressors.names()) {
    const c = compressors.get(name);
    const z = c.compress(bomb);
    assert.ok(z.length < 200_000, `${name}: ${z.length}`);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => c.decompress(z, 1024 * 1024), MessageTooLargeError, name);
    assert.ok(process.memoryUsage().arrayBuffers - before < 40 * 1024 * 1024, `${name} did not expand the bomb`);
  }
});

test('a bomb inside a task message is rejected by parseTaskMessage with MessageTooLargeError', () => {
  for (const compression of ['gzip', 'bzip2', 'brotli']) {
    const msg = buildTaskMessage({ name: 'add', args: ['0'.repeat(30_000_000)], compression });
    assert.throws(() => parseTaskMessage(msg, { maxBodyBytes: 1024 * 1024 }), MessageTooLargeError, compression);
  }
});

test('registerCompressor: a custom compressor via the compression header', () => {
  registerCompressor(
    { name: 'rev', contentType: 'application/x-rev', compress: (d) => Buffer.from(d).reverse(), decompress: (d, max) => {
      if (d.length > max) throw new MessageTooLargeError(d.length, max);
      return Buffer.from(d).reverse();
    } },
    ['reverse'],
  );
  const msg = buildTaskMessage({ name: 'add', args: [1, 2], compression: 'reverse' });
  assert.equal(msg.headers.compression, 'application/x-rev');
  assert.deepEqual(parseTaskMessage(msg).args, [1, 2]);
});
