import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  atSchedule,
  crontabExpression,
  crontabSchedule,
  everySchedule,
  parseDuration,
  parseEntry,
  parseSchedule,
} from '../../runtime/src/beat/schedules.js';
import { nextRun, planRuns, SKIP_GRACE_MS } from '../../runtime/src/beat/plan.js';
import { beatTaskId } from '../../runtime/src/beat/beat.js';
import { defineSchedule } from '../../runtime/src/app/schedule.js';
import { ConfigError } from '../../runtime/src/errors.js';

const T = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const tz = { timezone: 'UTC' };

describe('beat schedule arithmetic', () => {
  it('parses durations with units and refuses nonsense with what would be right', () => {
    assert.equal(parseDuration(5, 'every'), 5000);
    assert.equal(parseDuration(0.5, 'every'), 500);
    assert.equal(parseDuration('250ms', 'every'), 250);
    assert.equal(parseDuration('2m', 'every'), 120_000);
    assert.equal(parseDuration('1.5h', 'every'), 5_400_000);
    assert.equal(parseDuration('1d', 'every'), 86_400_000);
    assert.throws(() => parseDuration('5 minutes', 'x.every'), /x\.every must be seconds .*'5s'/);
    assert.throws(() => parseDuration(0, 'x.every'), /at least 100 ms/);
    assert.throws(() => parseDuration(-1, 'x.every'), /at least/);
  });

  it('every N counts from the last due time', () => {
    const s = everySchedule(1000);
    assert.equal(s.next(10_000), 11_000);
    assert.equal(s.latest(10_000, 10_999), undefined);
    assert.equal(s.latest(10_000, 11_000), 11_000);
    assert.equal(s.latest(10_000, 14_500), 14_000);
    assert.equal(s.text, 'every 1s');
    assert.equal(everySchedule(90_000).text, 'every 90s');
    assert.equal(everySchedule(120_000).text, 'every 2m');
  });

  it('crontab fields become a 5-field expression, Celery order of names', () => {
    assert.equal(crontabExpression({ minute: 0, hour: 3 }, 'c'), '0 3 * * *');
    assert.equal(crontabExpression({ minute: '*/15', dayOfWeek: 'mon-fri', monthOfYear: '1,7', dayOfMonth: '1-7' }, 'c'), '*/15 * 1-7 1,7 mon-fri');
    assert.equal(crontabExpression(' 5  4 * * sun ', 'c'), '5 4 * * sun');
    assert.throws(() => crontabExpression('* * *', 'e.crontab'), /e\.crontab must have 5 fields/);
    assert.throws(() => crontabExpression({ minutes: 5 } as never, 'e.crontab'), /unknown field "minutes"/);
    assert.throws(() => crontabSchedule('61 * * * *', 'UTC', 'e.crontab'), /e\.crontab: "61 \* \* \* \*" is not a valid crontab/);
  });

  it('crontab next and latest, in UTC and in a timezone', () => {
    const utc = crontabSchedule('0 9 * * mon-fri', 'UTC', 'c');
    // Saturday 2026-01-03 -> Monday 09:00.
    assert.equal(iso(utc.next(T('2026-01-03T01:00:00Z'))), '2026-01-05T09:00:00.000Z');
    // next is strictly after; latest includes its upper bound.
    assert.equal(iso(utc.next(T('2026-01-05T09:00:00Z'))), '2026-01-06T09:00:00.000Z');
    assert.equal(iso(utc.latest(T('2026-01-05T08:00:00Z'), T('2026-01-05T09:00:00Z'))), '2026-01-05T09:00:00.000Z');
    assert.equal(utc.latest(T('2026-01-05T09:00:00Z'), T('2026-01-05T12:00:00Z')), undefined);
    const ny = crontabSchedule('0 9 * * *', 'America/New_York', 'c');
    assert.equal(iso(ny.next(T('2026-01-10T00:00:00Z'))), '2026-01-10T14:00:00.000Z'); // EST, UTC-5
    assert.equal(iso(ny.next(T('2026-07-10T00:00:00Z'))), '2026-07-10T13:00:00.000Z'); // EDT, UTC-4
    assert.equal(ny.text, "crontab '0 9 * * *' America/New_York");
  });

  it('DST: a wall-clock time that does not exist runs once after the jump, one that happens twice runs once', () => {
    const paris = crontabSchedule('30 2 * * *', 'Europe/Paris', 'c');
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    const spring = paris.next(T('2026-03-28T12:00:00Z'))!;
    assert.equal(iso(spring), '2026-03-29T01:30:00.000Z'); // 03:30 CEST
    assert.equal(iso(paris.next(spring)), '2026-03-30T00:30:00.000Z'); // 02:30 CEST the next day
    // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice, the job runs once.
    const fall = paris.next(T('2026-10-24T12:00:00Z'))!;
    assert.equal(iso(fall), '2026-10-25T00:30:00.000Z');
    assert.equal(iso(paris.next(fall)), '2026-10-26T01:30:00.000Z');
    // An hourly job across the fall-back hour: every real hour once, none twice.
    const hourly = crontabSchedule('0 * * * *', 'Europe/Paris', 'c');
    const seen: string[] = [];
    let t = T('2026-10-24T23:30:00Z');
    for (let i = 0; i < 4; i++) seen.push(iso((t = hourly.next(t)!))!);
    assert.equal(new Set(seen).size, 4);
    for (let i = 1; i < seen.length; i++) assert.equal(Date.parse(seen[i]!) - Date.parse(seen[i - 1]!), 3_600_000);
  });

  it('one-off: due once at its time', () => {
    const at = T('2026-12-24T18:00:00Z');
    const s = atSchedule(at);
    assert.equal(s.next(-Infinity), at);
    assert.equal(s.next(at), undefined);
    assert.equal(s.latest(-Infinity, at - 1), undefined);
    assert.equal(s.latest(-Infinity, at), at);
    assert.equal(s.latest(at, at + 10_000), undefined);
  });

  it('a run has one identity: the same task id for the same scheduler, entry and due time', () => {
    const a = beatTaskId('default', 'add', 1000);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(beatTaskId('default', 'add', 1000), a);
    assert.notEqual(beatTaskId('default', 'add', 2000), a);
    assert.notEqual(beatTaskId('other', 'add', 1000), a);
  });
});

describe('beat catch-up policies', () => {
  const every = everySchedule(1000);

  it('a new every/crontab entry is anchored at now and sends nothing; a one-off in the past is sent', () => {
    assert.deepEqual(planRuns(every, undefined, 5000, 'latest'), { runs: [], lastDue: 5000, dropped: 0 });
    assert.equal(nextRun(every, undefined, 5000), 6000);
    const at = atSchedule(3000);
    assert.deepEqual(planRuns(at, undefined, 5000, 'latest'), { runs: [3000], lastDue: 3000, dropped: 0 });
    assert.deepEqual(planRuns(at, 3000, 9000, 'latest'), { runs: [], dropped: 0 });
    assert.equal(nextRun(at, 3000, 9000), undefined);
  });

  it('on time: exactly the one due run, under every policy', () => {
    for (const p of ['latest', 'all', 'skip'] as const) {
      assert.deepEqual(planRuns(every, 10_000, 10_999, p), { runs: [], dropped: 0 }, p);
      assert.deepEqual(planRuns(every, 10_000, 11_005, p), { runs: [11_000], lastDue: 11_000, dropped: 0 }, p);
    }
  });

  it('after downtime: latest sends one, all sends each (up to maxCatchUp), skip sends none', () => {
    assert.deepEqual(planRuns(every, 10_000, 15_200, 'latest'), { runs: [15_000], lastDue: 15_000, dropped: 1 });
    assert.deepEqual(planRuns(every, 10_000, 15_200, 'all'), { runs: [11_000, 12_000, 13_000, 14_000, 15_000], lastDue: 15_000, dropped: 0 });
    assert.deepEqual(planRuns(every, 10_000, 15_200, 'all', 3), { runs: [13_000, 14_000, 15_000], lastDue: 15_000, dropped: 1 });
    const tenSeconds = everySchedule(10_000);
    assert.deepEqual(planRuns(tenSeconds, 0, 10_000 + SKIP_GRACE_MS + 1, 'skip'), { runs: [], lastDue: 10_000, dropped: 1 });
    assert.deepEqual(planRuns(tenSeconds, 0, 10_000 + SKIP_GRACE_MS - 1, 'skip'), { runs: [10_000], lastDue: 10_000, dropped: 0 });
    const nightly = crontabSchedule('0 3 * * *', 'UTC', 'c');
    const r = planRuns(nightly, T('2026-01-01T03:00:00Z'), T('2026-01-04T12:00:00Z'), 'all');
    assert.deepEqual(r.runs.map(iso), ['2026-01-02T03:00:00.000Z', '2026-01-03T03:00:00.000Z', '2026-01-04T03:00:00.000Z']);
    assert.equal(iso(planRuns(nightly, T('2026-01-01T03:00:00Z'), T('2026-01-04T12:00:00Z'), 'latest').runs[0]), '2026-01-04T03:00:00.000Z');
  });
});

describe('beat entry validation', () => {
  it('accepts every, crontab (string or fields) and at; a Task object gives its name', () => {
    const e = parseEntry('nightly', { task: { name: 'reports.nightly' }, crontab: { minute: 0, hour: 3 }, timezone: 'Europe/Paris', args: [1], kwargs: { a: 1 }, options: { queue: 'r' } }, 'tasks.ts', tz);
    assert.equal(e.task, 'reports.nightly');
    assert.equal(e.schedule.text, "crontab '0 3 * * *' Europe/Paris");
    assert.deepEqual([e.args, e.kwargs, e.options], [[1], { a: 1 }, { queue: 'r' }]);
    assert.equal(parseEntry('x', { task: 'a', every: '5s' }, 'f', tz).schedule.text, 'every 5s');
    assert.equal(parseEntry('x', { task: 'a', at: '2026-12-24T18:00:00Z' }, 'f', tz).schedule.kind, 'at');
    assert.equal(parseEntry('x', { task: 'a', crontab: '0 3 * * *' }, 'f', { timezone: 'Asia/Tokyo' }).schedule.text, "crontab '0 3 * * *' Asia/Tokyo");
  });

  it('errors name the file, the entry and what would be right', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ task: 'a' }, /f: schedule entry "e" needs exactly one of every, crontab or at/],
      [{ task: 'a', every: 5, at: 1 }, /needs exactly one of every, crontab or at, not every and at/],
      [{ every: 5 }, /"e"\.task must be a task \(from task\(\)\) or a task name/],
      [{ task: 'a', every: 'often' }, /"e"\.every must be seconds/],
      [{ task: 'a', every: 5, args: 3 }, /"e"\.args must be an array/],
      [{ task: 'a', every: 5, kwargs: [] }, /"e"\.kwargs must be an object/],
      [{ task: 'a', every: 5, timezone: 'UTC' }, /timezone applies to crontab entries only/],
      [{ task: 'a', crontab: '0 3 * * *', timezone: 'Mars/Olympus' }, /unknown timezone "Mars\/Olympus"/],
      [{ task: 'a', at: 'tomorrow' }, /"e"\.at must be a Date/],
      [{ task: 'a', every: 5, catchUp: 'some' }, /"e"\.catchUp must be one of latest, all, skip/],
      [{ task: 'a', every: 5, evry: 5 }, /unknown key "evry"/],
    ];
    for (const [raw, re] of bad) assert.throws(() => parseEntry('e', raw, 'f', tz), (err: Error) => err instanceof ConfigError && re.test(err.message), JSON.stringify(raw));
  });

  it('points at the line of the entry in its file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-test-'));
    const file = path.join(dir, 'tasks.ts');
    fs.writeFileSync(file, ["import { defineSchedule } from 'sprig-queue';", 'export const schedule = defineSchedule({', "  ok: { task: 'a', every: 5 },", "  'broken-one': { task: 'a', every: -1 },", '});', ''].join('\n'));
    assert.throws(
      () => parseSchedule({ ok: { task: 'a', every: 5 }, 'broken-one': { task: 'a', every: -1 } }, file, tz),
      (err: Error) => err.message.startsWith(`${file}:4: schedule entry "broken-one".every must be at least`),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('beat schedule types', () => {
  it("defineSchedule checks a Task entry's args against the task's parameters (npm run typecheck)", () => {
    const add = { name: 'add' } as unknown as import('../../runtime/src/app/task.js').Task<[number, number], number>;
    const s = defineSchedule({
      ok: { task: add, every: 5, args: [2, 3] },
      byName: { task: 'py.anything', crontab: '0 3 * * *', args: ['free', 1] },
    });
    // @ts-expect-error -- 'x' is not a number
    defineSchedule({ wrongArgs: { task: add, every: 5, args: ['x', 3] } });
    // @ts-expect-error -- one of every, crontab or at
    defineSchedule({ twoKinds: { task: add, every: 5, at: 3 } });
    assert.deepEqual(Object.keys(s), ['ok', 'byName']);
  });
});
