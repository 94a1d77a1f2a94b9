/** Minimal leveled logger: one line per record, to stderr, Celery-like prefix. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(name: string): Logger;
  /** Written whatever the level: start-up banners that scripts wait for. */
  notice(msg: string): void;
  /** Whether a record at `level` would be written (skip building costly messages). */
  enabled(level: LogLevel): boolean;
}

export function createLogger(
  name: string,
  level: LogLevel = (process.env.SPRIG_LOG_LEVEL as LogLevel) || 'info',
  write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Logger {
  const min = order[level] ?? 20;
  const line = (lv: string, msg: string) => write(`[${new Date().toISOString()}: ${lv.toUpperCase()}/${name}] ${msg}`);
  const emit = (lv: LogLevel, msg: string) => {
    if (order[lv] >= min) line(lv, msg);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (n) => createLogger(`${name}:${n}`, level, write),
    enabled: (lv) => order[lv] >= min,
    notice: (m) => line('info', m),
  };
}
