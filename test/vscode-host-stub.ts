/**
 * The few `vscode` values the extension's monitor model uses (EventEmitter, Disposable), so the
 * same EventHub class the extension host runs can be driven in plain Node: the unit test that it
 * stays bounded, and the bench row of its memory with a million tasks (bench/monitor-model.ts).
 * Nothing else of the VS Code API is there: a file that needs more fails loudly.
 */
import Module from 'node:module';

class Disposable {
  constructor(private readonly fn: () => void) {}
  dispose(): void {
    this.fn();
  }
}

class EventEmitter<T> {
  private readonly listeners = new Set<(e: T) => void>();
  readonly event = (l: (e: T) => void): Disposable => {
    this.listeners.add(l);
    return new Disposable(() => this.listeners.delete(l));
  };
  fire(e: T): void {
    for (const l of this.listeners) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

const stub = { EventEmitter, Disposable };
const STUB_ID = '\0sprig-vscode-stub';
let installed = false;

/** `require('vscode')` gives the stub from now on (in this process). */
export function installVscodeStub(): void {
  if (installed) return;
  installed = true;
  const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string; _cache: Record<string, unknown> };
  const resolve = M._resolveFilename;
  M._resolveFilename = function (req: string, ...rest: unknown[]): string {
    return req === 'vscode' ? STUB_ID : resolve.call(this, req, ...rest);
  };
  M._cache[STUB_ID] = { id: STUB_ID, filename: STUB_ID, loaded: true, exports: stub };
}
