/**
 * Errors that stand for a Python exception (docs/task-api.md): a class declares the module, name
 * and args of the Python exception it is, so a failure is stored as Celery stores that exception
 * (`{exc_type, exc_module, exc_message: [...args]}`) and a Python caller's
 * `except thatmodule.ThatError as e:` catches it with `e.args` intact.
 *
 * ```ts
 * class PaymentDeclined extends Error {
 *   static readonly celery = pythonException<PaymentDeclined>({ module: 'shop.errors', name: 'PaymentDeclined', args: (e) => [e.code, e.amount] });
 *   constructor(readonly code: string, readonly amount: number) { super(`declined: ${code}`); }
 * }
 * ```
 */
import { ConfigError, type ExceptionInfo } from '../errors.js';

export interface PythonExceptionSpec<E extends Error = Error> {
  /** The Python module that defines it (`shop.errors`): the caller must have it imported. */
  readonly module: string;
  /** The class name, or a dotted qualified name (`Outer.Inner`), as Celery looks it up. */
  readonly name: string;
  /** The exception's `args` (what Python's constructor gets); default `[error.message]`. */
  readonly args?: (error: E) => unknown[];
}

const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** A checked declaration (a module or name that is no Python identifier is a ConfigError at once). */
export function pythonException<E extends Error = Error>(spec: PythonExceptionSpec<E>): Readonly<PythonExceptionSpec<E>> {
  if (!spec || typeof spec !== 'object') throw new ConfigError('pythonException(spec): spec must be { module, name, args? }');
  for (const k of ['module', 'name'] as const) {
    const v = spec[k];
    if (typeof v !== 'string' || v.length > 200 || !DOTTED.test(v)) {
      throw new ConfigError(`pythonException: ${k} must be a dotted Python name like ${k === 'module' ? "'shop.errors'" : "'PaymentDeclined'"}, got ${JSON.stringify(v)}`);
    }
  }
  if (spec.args !== undefined && typeof spec.args !== 'function') throw new ConfigError('pythonException: args must be a function (error) => [...args]');
  return Object.freeze({ ...spec });
}

/** The declaration of `err`'s class (its own, or inherited from a declared base class), if any. */
function declared(err: Error): PythonExceptionSpec | undefined {
  const spec = (err.constructor as { celery?: unknown } | undefined)?.celery;
  if (!spec || typeof spec !== 'object') return undefined;
  const s = spec as PythonExceptionSpec;
  return typeof s.module === 'string' && typeof s.name === 'string' && DOTTED.test(s.module) && DOTTED.test(s.name) ? s : undefined;
}

/**
 * The stored form of a declared error, or undefined for an undeclared one (today's behaviour).
 * An `args` mapping that throws or gives no array falls back to `[message]`, with the reason.
 */
export function declaredExceptionInfo(err: Error): { exc: ExceptionInfo; problem?: string } | undefined {
  const spec = declared(err);
  if (!spec) return undefined;
  let args: unknown = [err.message];
  let problem: string | undefined;
  if (spec.args) {
    try {
      args = spec.args(err);
    } catch (e) {
      problem = `its args mapping threw ${(e as Error)?.message ?? String(e)}`;
      args = [err.message];
    }
    if (!Array.isArray(args)) {
      problem = `its args mapping returned ${typeof args}, not an array`;
      args = [err.message];
    }
  }
  return { exc: { exc_type: spec.name, exc_module: spec.module, exc_message: args as unknown[] }, problem };
}
