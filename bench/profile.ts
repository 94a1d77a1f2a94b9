// Summarize V8 .cpuprofile files (from `node --cpu-prof`): self time per function, mapped through
// source maps to the TypeScript source. Standalone: node --import tsx bench/profile.ts FILE... [--top N]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceMap } from 'node:module';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  name: string;
  where: string;
  selfMs: number;
  /** Of all sampled time except (idle). */
  pct: number;
}

const maps = new Map<string, SourceMap | null>();
function sourceMapFor(file: string): SourceMap | null {
  if (!maps.has(file)) {
    let sm: SourceMap | null;
    try {
      sm = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {
      sm = null;
    }
    maps.set(file, sm);
  }
  return maps.get(file)!;
}

const ROOT = path.resolve(__dirname, '..');

function location(cf: CallFrame): string {
  if (!cf.url) return '';
  let file = cf.url;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (path.isAbsolute(file)) {
    const sm = sourceMapFor(file);
    const e = sm?.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (e && e.originalSource) {
      let src = e.originalSource;
      if (src.startsWith('file://')) src = fileURLToPath(src);
      src = path.resolve(path.dirname(file), src);
      return `${path.relative(ROOT, src)}:${(e.originalLine ?? 0) + 1}`;
    }
    return `${path.relative(ROOT, file)}:${cf.lineNumber + 1}`;
  }
  return `${file}:${cf.lineNumber + 1}`;
}

export function summarize(file: string, top = 15): { totalMs: number; busyMs: number; functions: HotFunction[] } {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n);
  /** Natives and builtins without a script: name the nearest caller that has one. */
  const caller = (node: ProfileNode): string => {
    for (let p = parent.get(node.id); p; p = parent.get(p.id)) {
      if (p.callFrame.url && !p.callFrame.url.startsWith('node:')) return `${p.callFrame.functionName || '(anonymous)'} ${location(p.callFrame)}`;
    }
    return '';
  };
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0; // time until the next sample belongs to this one
    const node = byId.get(prof.samples[i]!);
    if (!node) continue;
    total += dt;
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += dt;
      continue;
    }
    let where = location(cf);
    if ((!cf.url || cf.url.startsWith('node:')) && !name.startsWith('(')) {
      const via = caller(node);
      if (via) where = `${where ? `${where}, ` : ''}via ${via}`;
    }
    const key = `${name}@${where}`;
    const e = self.get(key);
    if (e) e.us += dt;
    else self.set(key, { name, where, us: dt });
  }
  const busy = total - idle;
  const functions = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, pct: busy ? (100 * e.us) / busy : 0 }));
  return { totalMs: total / 1000, busyMs: busy / 1000, functions };
}

export function formatSummary(title: string, s: ReturnType<typeof summarize>): string {
  const lines = [`${title}: ${s.totalMs.toFixed(0)} ms profiled, ${s.busyMs.toFixed(0)} ms not idle`];
  lines.push('  self ms   % busy  function  (file:line)');
  for (const f of s.functions) {
    lines.push(`  ${f.selfMs.toFixed(1).padStart(7)}  ${f.pct.toFixed(1).padStart(6)}%  ${f.name}  ${f.where ? `(${f.where})` : ''}`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 15;
  for (const f of args) console.log(formatSummary(path.basename(f), summarize(f, top)) + '\n');
}
