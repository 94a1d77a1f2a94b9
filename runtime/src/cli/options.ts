import { invalidArgument } from './commander.js';
import { parseJson } from '../serialization/json.js';

/** Commander parsers that say what is wrong and what would be right. */
export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw invalidArgument(`${name} expects a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function nonNegativeInt(name: string, hint = '') {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw invalidArgument(`${name} expects an integer >= 0${hint}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function nonNegativeNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw invalidArgument(`${name} expects a number of seconds >= 0, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function jsonArray(name: string) {
  return (v: string): unknown[] => {
    let x: unknown;
    try {
      x = parseJson(v);
    } catch (err) {
      throw invalidArgument(`${name} is not valid JSON (${(err as Error).message}); example: ${name} '[2, 3]'`);
    }
    if (!Array.isArray(x)) throw invalidArgument(`${name} must be a JSON array, e.g. ${name} '[2, 3]'`);
    return x;
  };
}

export function jsonObject(name: string) {
  return (v: string): Record<string, unknown> => {
    let x: unknown;
    try {
      x = parseJson(v);
    } catch (err) {
      throw invalidArgument(`${name} is not valid JSON (${(err as Error).message}); example: ${name} '{"y": 40}'`);
    }
    if (!x || typeof x !== 'object' || Array.isArray(x)) throw invalidArgument(`${name} must be a JSON object, e.g. ${name} '{"y": 40}'`);
    return x as Record<string, unknown>;
  };
}

export function isoDate(name: string) {
  return (v: string): Date => {
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw invalidArgument(`${name} expects an ISO 8601 time like 2026-01-31T12:00:00Z, got ${JSON.stringify(v)}`);
    return new Date(t);
  };
}

export function csv(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function oneOf<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw invalidArgument(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
}
