import * as vscode from 'vscode';

export type PoolKind = 'process' | 'thread' | 'async';
/** After Enqueue Task: a notification with every outcome, with failures only, or none. */
export type OutcomeNotification = 'always' | 'failures' | 'never';

/** The `sprig.*` settings, read fresh each time (they can change while workers run). */
export interface SprigSettings {
  /** Broker URL without its password ('' = let the runtime decide: env > sprig.config > sprig://). */
  brokerUrl: string;
  tasksFile: string;
  concurrency: number;
  pool: PoolKind;
  autoreload: boolean;
  timeLimit: number;
  softTimeLimit: number;
  maxTasksPerChild: number;
  eventsBuffer: number;
  notifyTaskOutcome: OutcomeNotification;
}

export function readSettings(scope?: vscode.ConfigurationScope): SprigSettings {
  const c = vscode.workspace.getConfiguration('sprig', scope);
  return {
    brokerUrl: c.get<string>('brokerUrl', '').trim(),
    tasksFile: c.get<string>('tasksFile', '').trim(),
    concurrency: c.get<number>('concurrency', 0),
    pool: c.get<PoolKind>('pool', 'process'),
    autoreload: c.get<boolean>('autoreload', true),
    timeLimit: c.get<number>('timeLimit', 0),
    softTimeLimit: c.get<number>('softTimeLimit', 0),
    maxTasksPerChild: c.get<number>('maxTasksPerChild', 0),
    eventsBuffer: Math.max(100, c.get<number>('eventsBuffer', 100_000)),
    notifyTaskOutcome: c.get<OutcomeNotification>('notifyTaskOutcome', 'always'),
  };
}
