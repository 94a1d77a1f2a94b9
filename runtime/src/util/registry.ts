/** What a codec registry holds: something known by a short name and by its content type on the wire. */
export interface Registrable {
  readonly name: string;
  readonly contentType: string;
}

/**
 * Codecs by name, alias and content type: the one shape of kombu's serializer and compression
 * registries. A later registration of a name, alias or content type replaces the earlier one.
 */
export class Registry<T extends Registrable> {
  private readonly byName = new Map<string, T>();
  private readonly byType = new Map<string, T>();

  /** `unknown` builds the error `get()` throws (util sits below errors.ts, so the caller picks it). */
  constructor(private readonly unknown: (key: string, known: string[]) => Error) {}

  register(item: T, aliases: readonly string[] = []): void {
    for (const key of [item.name, ...aliases]) this.byName.set(key, item);
    this.byType.set(item.contentType, item);
  }

  /** Remove `name` with its aliases and content type. */
  unregister(name: string): void {
    const item = this.byName.get(name);
    if (!item) return;
    for (const [key, v] of this.byName) if (v === item) this.byName.delete(key);
    if (this.byType.get(item.contentType) === item) this.byType.delete(item.contentType);
  }

  /** By name or alias first, then by content type. */
  find(nameOrType: string): T | undefined {
    return this.byName.get(nameOrType) ?? this.byType.get(nameOrType);
  }

  /** By content type only (what a message header names). */
  forContentType(contentType: string): T | undefined {
    return this.byType.get(contentType);
  }

  get(nameOrType: string): T {
    const item = this.find(nameOrType);
    if (!item) throw this.unknown(nameOrType, this.names());
    return item;
  }

  has(nameOrType: string): boolean {
    return this.find(nameOrType) !== undefined;
  }

  /** The registered names, without aliases. */
  names(): string[] {
    return [...new Set([...this.byName.values()].map((item) => item.name))];
  }
}
