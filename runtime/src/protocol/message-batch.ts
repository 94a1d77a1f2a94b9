import { randomUUIDs } from './uuids.js';
import { buildTaskMessage, type BuildTaskOptions, type TransportMessage } from './message.js';
import { jsonSerializer, serializers } from '../serialization/registry.js';
import { stringifyJson } from '../serialization/json.js';
import { pyrepr, pyreprArgs } from './pyrepr.js';
import type { Embed } from './signature.js';

/** One call of a batch: its own id and arguments; everything else comes from the batch's options. */
export interface BatchCall {
  id: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** The headers buildTaskMessage fills per call; a caller's header of one of these names disables the batch path. */
const PER_CALL_HEADERS = ['id', 'root_id', 'argsrepr', 'kwargsrepr'];

/**
 * buildTaskMessage of every call with options `o`, the same messages (test/unit/message-batch),
 * faster for a bulk enqueue of one task (`app.sendMany`): the first message is built by
 * buildTaskMessage, every later one is a copy of it with the fields that differ per call (id,
 * root_id, correlation_id, delivery_tag, argsrepr, kwargsrepr, body) put in. Only when nothing
 * else could differ: the JSON serializer (a signing one binds headers to the body), no
 * compression, no time taken from the clock (countdown, expires). Otherwise each call goes
 * through buildTaskMessage.
 */
export function buildTaskMessages(o: BuildTaskOptions, calls: readonly BatchCall[]): TransportMessage[] {
  const one = (c: BatchCall) => buildTaskMessage({ ...o, id: c.id, args: c.args, kwargs: c.kwargs });
  if (calls.length < 2 || !derivable(o)) return calls.map(one);
  const first = one(calls[0]!);
  const out: TransportMessage[] = [first];
  const embed: Embed = { callbacks: null, errbacks: null, chain: null, chord: null, ...o.embed };
  const h0 = first.headers;
  const p0 = first.properties;
  let lastJson = stringifyJson([calls[0]!.args, calls[0]!.kwargs, embed]);
  let lastBody = first.body;
  // No arguments (plain [] and {}) as the first call: the first call's body and reprs, unencoded.
  const firstEmpty = noArguments(calls[0]!);
  const tags = randomUUIDs(calls.length);
  for (let i = 1; i < calls.length; i++) {
    const { id, args, kwargs } = calls[i]!;
    // buildTaskMessage's own checks, so a bad call fails the same way.
    if (!Array.isArray(args) || kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
      out.push(one(calls[i]!));
      continue;
    }
    const empty = firstEmpty && noArguments(calls[i]!);
    // Equal bodies share one buffer (a message's body is never written to).
    let body = first.body;
    if (!empty) {
      const json = stringifyJson([args, kwargs, embed]);
      if (json !== lastJson) {
        lastJson = json;
        lastBody = Buffer.from(json, 'utf8');
      }
      body = lastBody;
    }
    out.push({
      headers: {
        ...h0,
        id,
        root_id: o.rootId ?? id,
        argsrepr: empty ? h0.argsrepr : pyreprArgs(args),
        kwargsrepr: empty ? h0.kwargsrepr : pyrepr(kwargs),
        timelimit: copy(h0.timelimit),
      },
      properties: { ...p0, correlation_id: id, delivery_info: { ...p0.delivery_info! }, delivery_tag: tags[i]! },
      contentType: first.contentType,
      contentEncoding: first.contentEncoding,
      body,
    });
  }
  return out;
}

/** A plain empty array and a plain object without keys: their JSON and reprs are the same whatever else. */
function noArguments(c: BatchCall): boolean {
  if (!Array.isArray(c.args) || c.args.length !== 0 || Object.getPrototypeOf(c.args) !== Array.prototype) return false;
  const k = c.kwargs as unknown;
  if (k === null || typeof k !== 'object' || Object.getPrototypeOf(k) !== Object.prototype) return false;
  return Object.keys(k).length === 0;
}

/** buildTaskMessage makes a fresh array per message: so does a copy (no message shares one with another). */
const copy = (v: unknown): unknown => (Array.isArray(v) ? [...v] : v);

function derivable(o: BuildTaskOptions): boolean {
  if (serializers.get(o.serializer ?? 'json') !== jsonSerializer || o.compression) return false;
  if ((o.countdown !== undefined && o.countdown > 0) || o.expires !== undefined) return false;
  return !o.headers || !PER_CALL_HEADERS.some((k) => Object.prototype.hasOwnProperty.call(o.headers, k));
}
