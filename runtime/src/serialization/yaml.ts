import type * as YamlLib from 'yaml';

// Loaded at first use: most workers never see YAML, and the library costs a few MB at start.
let lib: typeof YamlLib | undefined;
const yaml = (): typeof YamlLib => (lib ??= require('yaml') as typeof YamlLib);
import type { Serializer } from './registry.js';

/**
 * Celery's 'yaml' (kombu: yaml.safe_dump / yaml.safe_load). YAML 1.1 both ways, as PyYAML speaks:
 * written that way, strings like "yes"/"on" are quoted so Python does not read them as booleans.
 * Only the standard tags resolve; any other tag (`!!python/object`, `!custom`) is refused, not
 * passed through as a string. The `yaml` package builds maps with own properties, so a
 * `__proto__` key stays a key and never becomes a prototype (tested).
 */
export const yamlSerializer: Serializer = {
  name: 'yaml',
  contentType: 'application/x-yaml',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(yaml().stringify(value, { version: '1.1' }), 'utf8'),
  decode(data) {
    const doc = yaml().parseDocument(data.toString('utf8'), { version: '1.1', logLevel: 'silent', uniqueKeys: true, prettyErrors: false });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw new Error(problem.message.split('\n')[0]);
    // Bounds alias expansion (billion laughs).
    return doc.toJS({ maxAliasCount: 100 });
  },
};
