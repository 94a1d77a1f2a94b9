/** A URL with its password masked, for logs, errors and display (`redis://u:***@host`). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}
