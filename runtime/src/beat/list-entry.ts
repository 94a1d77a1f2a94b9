// No imports: the editor's monitor protocol (and so the webview) uses this type.

/** One row of `sprig beat --list --json` (the editor reads exactly this shape). */
export interface BeatListEntry {
  name: string;
  task: string;
  /** Human text: 'every 5s', "crontab '0 3 * * *' UTC", 'once at ...'. */
  schedule: string;
  /** ISO time of the next run; null: a one-off that ran, or a disabled entry. */
  nextRunAt: string | null;
  /** ISO due time of the last run sent; null: never. */
  lastRunAt: string | null;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
}
