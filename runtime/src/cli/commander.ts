/**
 * commander, loaded on first use: the library barrel (index.js) carries the CLI, and every process
 * that loads it without running a command (pool children, an app that only enqueues) would
 * otherwise load and keep commander (about 2 MB of RSS in each pool child).
 */
export function commander(): typeof import('commander') {
  return require('commander') as typeof import('commander');
}

/** A bad option value: commander prints it as `error: option '...' argument '...' is invalid. <message>`. */
export function invalidArgument(message: string): Error {
  return new (commander().InvalidArgumentError)(message);
}
