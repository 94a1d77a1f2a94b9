/**
 * The URL brokers "Sprig: Select Broker" offers, each with its prompt's default and the check of
 * what is typed (no `vscode` import: unit-tested as it is).
 */
export interface UrlBrokerChoice {
  choice: 'redis' | 'amqp' | 'postgres';
  label: string;
  /** Shown next to the label in the quick pick. */
  description: string;
  /** Its name in the URL prompt's title. */
  name: string;
  /** The prompt's initial value. */
  value: string;
  schemes: readonly string[];
}

export const URL_BROKERS: readonly UrlBrokerChoice[] = [
  { choice: 'redis', label: '$(database) Redis…', description: 'redis://host:6379/0', name: 'Redis', value: 'redis://127.0.0.1:6379/0', schemes: ['redis', 'rediss'] },
  { choice: 'amqp', label: '$(radio-tower) AMQP (RabbitMQ)…', description: 'amqp://user@host:5672//', name: 'AMQP', value: 'amqp://guest@127.0.0.1:5672//', schemes: ['amqp', 'amqps'] },
  {
    choice: 'postgres',
    label: '$(table) PostgreSQL…',
    description: 'postgres://user@host:5432/db',
    name: 'PostgreSQL',
    value: 'postgres://postgres@127.0.0.1:5432/postgres',
    schemes: ['postgres', 'postgresql'],
  },
];

/** undefined when `input` is a URL of this broker, else what is wrong (the input box shows it). */
export function validateBrokerUrl(b: UrlBrokerChoice, input: string): string | undefined {
  const x = input.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(x)?.[1]?.toLowerCase();
  if (!scheme || !b.schemes.includes(scheme)) return `Must start with ${b.schemes.map((s) => `${s}://`).join(' or ')}`;
  try {
    new URL(x);
  } catch {
    return `Not a valid URL (percent-encode special characters in the user name, password or options)`;
  }
  return undefined;
}
