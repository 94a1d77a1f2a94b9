/** `npm run test:ha [sentinel|cluster|rabbit ...]`: the HA scenarios, one after another, then a summary. */
import { rabbitCancelScenario, rabbitScenario } from './rabbit.js';
import { clusterScenario, sentinelEarlyKillScenario, sentinelScenario } from './scenarios.js';

const scenarios: Record<string, () => Promise<string | string[]>> = {
  sentinel: sentinelScenario,
  'sentinel-early': sentinelEarlyKillScenario,
  cluster: clusterScenario,
  rabbit: rabbitScenario,
  'rabbit-cancel': rabbitCancelScenario,
};

/** Run only when named: a part of another scenario, on an engine of its own (for working on it). */
const NAMED_ONLY = new Set(['rabbit-cancel']);

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !(n in scenarios));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`);
  const lines: string[] = [];
  let ok = true;
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length ? !only.includes(name) : NAMED_ONLY.has(name)) continue;
    const t0 = Date.now();
    try {
      const out = [await run()].flat();
      for (const l of out) {
        if (l.startsWith('FAIL')) ok = false;
        lines.push(l);
        console.log(l);
      }
    } catch (err) {
      ok = false;
      lines.push(`FAIL ${name}: ${(err as Error).stack ?? String(err)}`);
      console.log(lines[lines.length - 1]);
    }
    console.log(`[ha] ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log('\nHA suite:');
  for (const l of lines) console.log(`  ${l}`);
  process.exit(ok ? 0 : 1);
}

void main();
