/**
 * The Redis Lua scripts: one file per operation in lua/, named as BullMQ names its scripts,
 * `<operation>-<number of keys>.lua` (`-n`: the number varies and the caller passes it first).
 * They are loaded with ioredis `defineCommand`, which sends EVALSHA and falls back to EVAL on
 * NOSCRIPT (a restarted or flushed server). A line `--- @include "name"` pulls in
 * lua/includes/name.lua.
 *
 * The bundle carries the files as text (esbuild's `.lua` text loader, through the `require`s
 * below); run from source (tsx), they are read from the lua/ folder next to this file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RedisClient } from './connection.js';

const fromSource = __filename.endsWith('.ts');

function text(file: string, bundled: () => unknown): string {
  return fromSource ? fs.readFileSync(path.join(__dirname, 'lua', file), 'utf8') : String(bundled());
}

const INCLUDES: Record<string, string> = {
  'restore-tag': text('includes/restore-tag.lua', () => require('./lua/includes/restore-tag.lua')),
};

const FILES = {
  fetch: ['fetch-n.lua', text('fetch-n.lua', () => require('./lua/fetch-n.lua'))],
  requeue: ['requeue-2.lua', text('requeue-2.lua', () => require('./lua/requeue-2.lua'))],
  restoreVisible: ['restore-visible-2.lua', text('restore-visible-2.lua', () => require('./lua/restore-visible-2.lua'))],
  deadLetter: ['dead-letter-3.lua', text('dead-letter-3.lua', () => require('./lua/dead-letter-3.lua'))],
  park: ['park-3.lua', text('park-3.lua', () => require('./lua/park-3.lua'))],
  unpark: ['unpark-3.lua', text('unpark-3.lua', () => require('./lua/unpark-3.lua'))],
  chordPart: ['chord-part-6.lua', text('chord-part-6.lua', () => require('./lua/chord-part-6.lua'))],
  // kombu's own text, byte for byte: the same SHA, so Python workers and Sprig share one cached script.
  releaseMutex: ['release-mutex-1.lua', text('release-mutex-1.lua', () => require('./lua/release-mutex-1.lua'))],
  leaseAcquire: ['lease-acquire-1.lua', text('lease-acquire-1.lua', () => require('./lua/lease-acquire-1.lua'))],
  leaseCommit: ['lease-commit-n.lua', text('lease-commit-n.lua', () => require('./lua/lease-commit-n.lua'))],
} as const;

export type ScriptName = keyof typeof FILES;

interface Script {
  command: string;
  lua: string;
  /** undefined: the caller passes the number of keys. */
  keys?: number;
}

const SCRIPTS = Object.fromEntries(
  Object.entries(FILES).map(([name, [file, lua]]) => {
    const n = /-(\d+|n)\.lua$/.exec(file)?.[1];
    if (!n) throw new Error(`Lua script ${file} is not named <operation>-<number of keys>.lua`);
    const source = lua.replace(/^--- @include "([^"]+)"$/gm, (_, inc: string) => {
      const body = INCLUDES[inc];
      if (body === undefined) throw new Error(`Lua script ${file} includes unknown "${inc}"`);
      return body;
    });
    const script: Script = { command: `sprig${name[0]!.toUpperCase()}${name.slice(1)}`, lua: source, keys: n === 'n' ? undefined : Number(n) };
    return [name, script];
  }),
) as Record<ScriptName, Script>;

/** Make the scripts callable on `client` (once per client). */
export function defineScripts<T extends RedisClient>(client: T): T {
  for (const s of Object.values(SCRIPTS)) client.defineCommand(s.command, { lua: s.lua, numberOfKeys: s.keys });
  return client;
}

/** Run a script on a client `defineScripts` has prepared. */
export function runScript(client: RedisClient, name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
  const s = SCRIPTS[name];
  const fn = (client as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[s.command];
  if (!fn) throw new Error(`Redis script ${name} is not defined on this client`);
  if (s.keys === undefined) return fn.call(client, keys.length, ...keys, ...args);
  if (keys.length !== s.keys) throw new Error(`Redis script ${name} takes ${s.keys} keys, got ${keys.length}`);
  return fn.call(client, ...keys, ...args);
}
