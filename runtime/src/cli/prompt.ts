/**
 * A yes/no question on the terminal. Asked only where a person can answer: with no terminal on
 * stdin (a script, CI, the extension) the caller refuses and names the flag that skips it.
 */
import type * as Readline from 'node:readline';

export interface PromptStreams {
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** True when the question can be asked (stdin is a terminal). */
export function canPrompt(streams: PromptStreams = {}): boolean {
  return !!(streams.input ?? process.stdin).isTTY;
}

/** Asks `question` and resolves true only for y/yes (Celery's purge wants the word, we take both). */
export async function confirm(question: string, streams: PromptStreams = {}): Promise<boolean> {
  // Loaded when a question is asked: every sprig command would pay for it at start otherwise.
  const readline = require('node:readline') as typeof Readline;
  const rl = readline.createInterface({ input: streams.input ?? process.stdin, output: streams.output ?? process.stderr, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(`${question} [y/N] `, resolve);
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

/**
 * Before something with no undo: true when the user said yes. Without a terminal it refuses,
 * naming the flag that skips the question (exit code 2); a "no" sets exit code 1.
 */
export async function confirmOrRefuse(what: string, flag: string, streams: PromptStreams = {}): Promise<boolean> {
  if (!canPrompt(streams)) {
    process.stderr.write(`sprig: this would ${what}, and asks first; stdin is not a terminal: pass ${flag} to go ahead without asking\n`);
    process.exitCode = 2;
    return false;
  }
  if (await confirm(`${what[0]!.toUpperCase()}${what.slice(1)}? There is no undo.`, streams)) return true;
  process.stderr.write('sprig: nothing done\n');
  process.exitCode = 1;
  return false;
}
