/**
 * A URL with its password masked, for logs, errors and display (`redis://u:***@host`); a URL in
 * its query, percent-encoded (postgres:// `listen_url=`), has its password masked too.
 */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@').replace(/(%2F%2F[^%:@/&]*%3A)([^&]*?)(%40)/gi, '$1***$3');
}
