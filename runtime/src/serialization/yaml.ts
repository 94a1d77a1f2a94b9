import type * as YamlLib from 'yaml';
import type { Serializer } from './registry.js';

// Loaded at first use: most workers never see YAML, and the library costs a few MB at start.
let lib: typeof YamlLib | undefined;
const yaml = (): typeof YamlLib => (lib ??= require('yaml') as typeof YamlLib);

/**
 * Plain scalars resolved exactly as PyYAML's SafeLoader does (yaml/resolver.py), which is not
 * quite YAML 1.1: `y`/`n` are strings, a float needs a dot (`1e3` is a string, `1.0e+3` a
 * float), an exponent needs its sign, `0o17` is a string and `017` is octal. Integers are exact
 * (a BigInt past 2**53). The same tests decide what the writer quotes, so a string Python would
 * read as something else is quoted.
 */
type ScalarTag = YamlLib.ScalarTag;

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT = /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP =
  /^(?:([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)$/;

/** construct_yaml_int: sign, 0b, 0x, a leading 0 (octal), base 60, else decimal; exact. */
function pyInt(text: string): number | bigint {
  let s = text.replace(/_/g, '');
  let sign = 1n;
  if (s[0] === '-') sign = -1n;
  if (s[0] === '-' || s[0] === '+') s = s.slice(1);
  let v: bigint;
  if (s === '0') v = 0n;
  else if (s.startsWith('0b')) v = BigInt(s);
  else if (s.startsWith('0x')) v = BigInt(s);
  else if (s[0] === '0') v = BigInt(`0o${s.slice(1)}`);
  else if (s.includes(':')) v = s.split(':').reduce((acc, p) => acc * 60n + BigInt(p), 0n);
  else v = BigInt(s);
  v *= sign;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** construct_yaml_float. */
function pyFloat(text: string): number {
  let s = text.replace(/_/g, '').toLowerCase();
  let sign = 1;
  if (s[0] === '-') sign = -1;
  if (s[0] === '-' || s[0] === '+') s = s.slice(1);
  if (s === '.inf') return sign * Infinity;
  if (s === '.nan') return NaN;
  if (s.includes(':')) return sign * s.split(':').reduce((acc, p) => acc * 60 + Number(p), 0);
  return sign * Number(s);
}

/** represent_float: `.nan`, `.inf`, else repr with a dot always (`1.0e+21`, `1152921504606846976.0`). */
function pyFloatText(v: number): string {
  if (Number.isNaN(v)) return '.nan';
  if (!Number.isFinite(v)) return v > 0 ? '.inf' : '-.inf';
  const s = String(v);
  if (s.includes('.')) return s;
  const e = s.indexOf('e');
  return e < 0 ? `${s}.0` : `${s.slice(0, e)}.0${s.slice(e)}`;
}

/** construct_yaml_timestamp: a date, or a date and time (naive = UTC, as Celery takes it). */
function pyTimestamp(text: string): Date {
  const m = TIMESTAMP.exec(text)!;
  if (m[1]) return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  const ms = Number(((m[10] ?? '') + '000').slice(0, 3));
  let t = Date.UTC(Number(m[4]), Number(m[5]) - 1, Number(m[6]), Number(m[7]), Number(m[8]), Number(m[9]), ms);
  if (m[12]) t -= (m[12] === '-' ? -1 : 1) * (Number(m[13]) * 60 + Number(m[14] ?? 0)) * 60_000;
  return new Date(t);
}

const isInt = (v: unknown): boolean => typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));

const PYYAML_SCALARS: ScalarTag[] = [
  { tag: 'tag:yaml.org,2002:null', default: true, test: NULL, identify: (v) => v === null || v === undefined, resolve: () => null, stringify: () => 'null' },
  { tag: 'tag:yaml.org,2002:bool', default: true, test: BOOL, identify: (v) => typeof v === 'boolean', resolve: (s) => /^(?:yes|true|on)$/i.test(s), stringify: ({ value }) => (value ? 'true' : 'false') },
  { tag: 'tag:yaml.org,2002:int', default: true, test: INT, identify: isInt, resolve: pyInt, stringify: ({ value }) => String(value) },
  {
    tag: 'tag:yaml.org,2002:float',
    default: true,
    test: FLOAT,
    identify: (v) => typeof v === 'number' && !Number.isSafeInteger(v),
    resolve: pyFloat,
    stringify: ({ value }) => pyFloatText(value as number),
  },
  {
    tag: 'tag:yaml.org,2002:timestamp',
    default: true,
    test: TIMESTAMP,
    identify: (v) => v instanceof Date,
    resolve: pyTimestamp,
    stringify: ({ value }) => (value as Date).toISOString(),
  },
  // PyYAML's `=` (the value tag) has no SafeLoader constructor: a string "=" must be quoted.
  { tag: 'tag:yaml.org,2002:value', default: true, test: /^=$/, identify: () => false, resolve: (s) => s },
];
const REPLACED = new Set(PYYAML_SCALARS.map((t) => t.tag));

/** The YAML 1.1 schema's collections, binary and merge, with PyYAML's scalars. */
function customTags(tags: YamlLib.Tags): YamlLib.Tags {
  return [...tags.filter((t) => typeof t === 'string' || !REPLACED.has(t.tag)), ...PYYAML_SCALARS];
}

/**
 * Celery's 'yaml' (kombu: yaml.safe_dump / yaml.safe_load), read and written as PyYAML does.
 * Only the standard tags resolve; any other tag (`!!python/object`, `!custom`) is refused, not
 * passed through as a string. The `yaml` package builds maps with own properties, so a
 * `__proto__` key stays a key and never becomes a prototype (tested).
 */
export const yamlSerializer: Serializer = {
  name: 'yaml',
  contentType: 'application/x-yaml',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(yaml().stringify(value, { version: '1.1', customTags }), 'utf8'),
  decode(data) {
    const doc = yaml().parseDocument(data.toString('utf8'), { version: '1.1', customTags, logLevel: 'silent', uniqueKeys: true, prettyErrors: false });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw new Error(problem.message.split('\n')[0]);
    // Bounds alias expansion (billion laughs).
    return doc.toJS({ maxAliasCount: 100 });
  },
};
