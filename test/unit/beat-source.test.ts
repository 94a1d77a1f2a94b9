import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSchedule } from '../../runtime/src/beat/source.js';

function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-test-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"p","private":true}');
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

describe('beat schedule sources', () => {
  it('merges the tasks file export and sprig.config beat.schedule; config settings apply (timezone)', async () => {
    const dir = project({
      'tasks.ts': "import { task, defineSchedule } from 'sprig-queue';\nexport const add = task('src.add', (a: number, b: number) => a + b);\nexport const schedule = defineSchedule({ fromTasks: { task: add, every: 5, args: [1, 2] } });\n",
      'sprig.config.ts': "import { defineConfig } from 'sprig-queue';\nexport default defineConfig({ beat: { timezone: 'Asia/Tokyo', schedule: { fromConfig: { task: 'py.cleanup', crontab: '0 4 * * *' } } } });\n",
    });
    try {
      const s = await loadSchedule({ app: path.join(dir, 'tasks.ts'), config: { projectDir: dir } });
      assert.deepEqual([...s.entries.keys()], ['fromTasks', 'fromConfig']);
      assert.equal(s.entries.get('fromTasks')!.task, 'src.add');
      assert.equal(s.entries.get('fromConfig')!.schedule.text, "crontab '0 4 * * *' Asia/Tokyo");
      assert.equal(s.entries.get('fromConfig')!.source, `${path.join(dir, 'sprig.config.ts')}:2`);
      assert.ok(s.files.includes(path.join(dir, 'tasks.ts')) && s.files.includes(path.join(dir, 'sprig.config.ts')), 'both files are watched');
      // Settings in code win over the file, as everywhere.
      const o = await loadSchedule({ app: path.join(dir, 'tasks.ts'), config: { projectDir: dir, beat: { timezone: 'UTC' } } });
      assert.equal(o.entries.get('fromConfig')!.schedule.text, "crontab '0 4 * * *' UTC");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a name in both places is an error naming both', async () => {
    const dir = project({
      'tasks.ts': "export const schedule = {\n  twice: { task: 'a', every: 5 },\n};\n",
      'sprig.config.json': JSON.stringify({ beat: { schedule: { twice: { task: 'b', every: 9 } } } }),
    });
    try {
      await assert.rejects(
        loadSchedule({ app: path.join(dir, 'tasks.ts'), config: { projectDir: dir } }),
        (err: Error) => err.message === `schedule entry "twice" is defined twice: at ${path.join(dir, 'tasks.ts')}:2 and at ${path.join(dir, 'sprig.config.json')}:1; rename one`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
