/**
 * Signed messages: the 'signed' serializer wraps another serializer's bytes with a signature that
 * covers the body AND the task headers that decide what runs (task, id, eta, expires, retries, ...).
 * See docs/security.md for the format, key rotation and how it relates to Celery's 'auth'.
 *
 * Wire body (content type application/x-sprig-signed), JSON:
 *   {"v":1,"alg":"ed25519","kid":"k1","ct":"application/json","ce":"utf-8","body":"<b64>","sig":"<b64>"}
 * The signature is over  "sprig-signed-v1\n" + canonical JSON of
 *   {alg, kid, ct, ce, body: "<b64>", headers: {<each of SIGNED_HEADERS>: value or null}}
 * (keys sorted at every level, no whitespace), so no byte of it depends on how a broker re-encodes.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { ConfigError, ProtocolError } from '../errors.js';
import type { Serializer, SerializerContext } from './registry.js';

export const SIGNED_CONTENT_TYPE = 'application/x-sprig-signed';
const DOMAIN = 'sprig-signed-v1\n';

/** Headers bound to the signature: what runs, when, as which id, and its place in a workflow. */
export const SIGNED_HEADERS = [
  'task',
  'id',
  'shadow',
  'eta',
  'expires',
  'retries',
  'timelimit',
  'group',
  'group_index',
  'root_id',
  'parent_id',
  'ignore_result',
  'argsrepr',
  'kwargsrepr',
] as const;

export interface SigningConfig {
  /** PEM private key file this process signs with (clients; workers that retry signed tasks). */
  keyFile?: string;
  /** The same, inline PEM (tests, secrets managers). */
  key?: string;
  /** The id receivers know this key by (their `trusted` map). Default: a fingerprint of the public key. */
  certId?: string;
  /** id -> PEM public key or X.509 certificate, as a file path or inline PEM. Several ids: rotation. */
  trusted?: Record<string, string>;
  /** The serializer of the signed payload (default json). */
  serializer?: string;
}

export class SignatureError extends ProtocolError {
  constructor(message: string) {
    super(message, { code: 'E_SIGNATURE' });
  }
}

type Alg = 'ed25519' | 'ed448' | 'rsa-pss-sha256' | 'ecdsa-sha256';

interface Signer {
  key: crypto.KeyObject;
  kid: string;
  alg: Alg;
}

export interface SigningState {
  signer?: Signer;
  trusted: Map<string, { key: crypto.KeyObject; alg: Alg }>;
  inner: string;
}

const globalState: SigningState = { trusted: new Map(), inner: 'json' };

function algOf(key: crypto.KeyObject): Alg {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'ed448':
      return 'ed448';
    case 'rsa':
    case 'rsa-pss':
      return 'rsa-pss-sha256';
    case 'ec':
      return 'ecdsa-sha256';
    default:
      throw new ConfigError(`signing: unsupported key type ${key.asymmetricKeyType ?? key.type}; use ed25519, RSA or EC`);
  }
}

function readPem(what: string, value: string): string {
  if (value.includes('-----BEGIN ')) return value;
  try {
    return fs.readFileSync(value, 'utf8');
  } catch (err) {
    throw new ConfigError(`signing: cannot read ${what} ${JSON.stringify(value)}: ${(err as Error).message}`);
  }
}

function publicKeyFrom(what: string, value: string): crypto.KeyObject {
  const pem = readPem(what, value);
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return new crypto.X509Certificate(pem).publicKey;
    return crypto.createPublicKey(pem);
  } catch (err) {
    throw new ConfigError(`signing: ${what} is not a PEM public key or certificate: ${(err as Error).message}`);
  }
}

/** A short stable id for a public key: sha256 of its SPKI DER, 16 hex digits. */
export function keyFingerprint(key: crypto.KeyObject): string {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return crypto.createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Build signing state from config (throws ConfigError with the reason). */
export function loadSigningState(cfg: SigningConfig): SigningState {
  const state: SigningState = { trusted: new Map(), inner: cfg.serializer ?? 'json' };
  for (const [id, v] of Object.entries(cfg.trusted ?? {})) {
    const key = publicKeyFrom(`trusted key ${JSON.stringify(id)}`, v);
    state.trusted.set(id, { key, alg: algOf(key) });
  }
  const keySource = cfg.key ?? cfg.keyFile;
  if (keySource) {
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(readPem('keyFile', keySource));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`signing: keyFile is not a PEM private key: ${(err as Error).message}`);
    }
    const kid = cfg.certId ?? keyFingerprint(key);
    const alg = algOf(key);
    const pub = crypto.createPublicKey(key);
    const known = state.trusted.get(kid);
    if (known && !known.key.equals(pub)) {
      throw new ConfigError(`signing: certId ${JSON.stringify(kid)} is trusted with a different public key than keyFile's`);
    }
    // A worker trusts its own key, so the retries it re-signs are accepted.
    state.trusted.set(kid, { key: pub, alg });
    state.signer = { key, kid, alg };
  }
  return state;
}

/** Configure the process-wide 'signed' serializer (the worker does this from `signing` in config). */
export function configureSigning(cfg: SigningConfig | undefined): void {
  const s: SigningState = cfg ? loadSigningState(cfg) : { trusted: new Map(), inner: 'json' };
  globalState.signer = s.signer;
  globalState.trusted = s.trusted;
  globalState.inner = s.inner;
}

function canonical(v: unknown): string {
  if (v === undefined) return 'null';
  if (typeof v === 'bigint') return String(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

function signedBytes(f: { alg: string; kid: string; ct: string; ce: string; body: string }, headers: Readonly<Record<string, unknown>> = {}): Buffer {
  const h: Record<string, unknown> = {};
  for (const k of SIGNED_HEADERS) h[k] = headers[k] ?? null;
  return Buffer.from(DOMAIN + canonical({ ...f, headers: h }), 'utf8');
}

function sign(alg: Alg, key: crypto.KeyObject, data: Buffer): Buffer {
  if (alg === 'ed25519' || alg === 'ed448') return crypto.sign(null, data, key);
  if (alg === 'rsa-pss-sha256') {
    return crypto.sign('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  }
  return crypto.sign('sha256', data, key);
}

function verify(alg: Alg, key: crypto.KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    if (alg === 'ed25519' || alg === 'ed448') return crypto.verify(null, data, key, sig);
    if (alg === 'rsa-pss-sha256') {
      return crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
    }
    return crypto.verify('sha256', data, key, sig);
  } catch {
    return false;
  }
}

interface Lookup {
  get(nameOrType: string): Serializer;
}

/**
 * The 'signed' serializer. `lookup` finds the inner serializer; `state` defaults to the
 * process-wide one that configureSigning() sets.
 */
export function createSignedSerializer(lookup: Lookup, opts: { name?: string; state?: SigningState } = {}): Serializer {
  const st = () => opts.state ?? globalState;
  return {
    name: opts.name ?? 'signed',
    contentType: SIGNED_CONTENT_TYPE,
    contentEncoding: 'utf-8',
    encode(value: unknown, ctx?: SerializerContext): Buffer {
      const s = st();
      if (!s.signer) {
        throw new ConfigError('the signed serializer has no key: set `signing: { keyFile, certId }` in the config or call configureSigning()');
      }
      const inner = lookup.get(s.inner);
      if (inner.contentType === SIGNED_CONTENT_TYPE) throw new ConfigError('signing.serializer cannot be "signed" itself');
      const f = { alg: s.signer.alg, kid: s.signer.kid, ct: inner.contentType, ce: inner.contentEncoding, body: inner.encode(value).toString('base64') };
      const sig = sign(s.signer.alg, s.signer.key, signedBytes(f, ctx?.headers));
      return Buffer.from(JSON.stringify({ v: 1, ...f, sig: sig.toString('base64') }), 'utf8');
    },
    decode(data: Buffer, ctx?: SerializerContext): unknown {
      const s = st();
      let env: Record<string, unknown>;
      try {
        env = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new SignatureError('signed message: body is not a signed envelope');
      }
      if (!env || typeof env !== 'object' || env.v !== 1) throw new SignatureError('signed message: unknown envelope version');
      const { alg, kid, ct, ce, body, sig } = env;
      if (typeof alg !== 'string' || typeof kid !== 'string' || typeof ct !== 'string' || typeof ce !== 'string' || typeof body !== 'string' || typeof sig !== 'string') {
        throw new SignatureError('signed message: envelope fields missing');
      }
      const trusted = s.trusted.get(kid);
      if (!trusted) {
        throw new SignatureError(`signed message: key id ${JSON.stringify(kid)} is not trusted (trusted: ${[...s.trusted.keys()].join(', ') || 'none'})`);
      }
      // The algorithm comes from the trusted key, never from the message.
      if (alg !== trusted.alg) throw new SignatureError(`signed message: algorithm ${alg} does not match key ${kid} (${trusted.alg})`);
      if (!verify(trusted.alg, trusted.key, signedBytes({ alg, kid, ct, ce, body }, ctx?.headers), Buffer.from(sig, 'base64'))) {
        throw new SignatureError(`signed message: signature check failed for key ${kid} (body or headers altered, or signed by another key)`);
      }
      if (ct === SIGNED_CONTENT_TYPE) throw new SignatureError('signed message: nested signed content');
      const inner = lookup.get(ct);
      return inner.decode(Buffer.from(body, 'base64'));
    },
  };
}
