/**
 * The monitor in a browser (`sprig monitor --http`): the same protocol as in the editor, carried
 * by HTTP instead of postMessage. Notifications arrive as Server-Sent Events on /events; commands
 * and requests are POSTed to /rpc and the reply comes back in the response. The token travels in
 * a cookie the server set when the page was opened with it. Transport (transport.ts) is unchanged:
 * this supplies its VsCodeApi and MessageSource.
 */
import type { MessageSource, VsCodeApi } from './transport.js';

type Listener = (e: { data: unknown }) => void;

export function httpHost(base = ''): { api: VsCodeApi; source: MessageSource } {
  const listeners: Listener[] = [];
  const dispatch = (data: unknown) => {
    for (const l of listeners) l({ data });
  };
  const events = new EventSource(`${base}/events`);
  events.onmessage = (e: MessageEvent<string>) => {
    try {
      dispatch(JSON.parse(e.data));
    } catch {
      // not a message of the protocol: ignored, like a webview ignores a foreign postMessage
    }
  };
  events.onerror = () => dispatch({ method: 'connection', params: { brokerUrl: '', connected: false, error: 'the monitor server is not answering' } });
  const api: VsCodeApi = {
    postMessage(m: unknown) {
      void fetch(`${base}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(m), credentials: 'same-origin' })
        .then(async (r) => (r.headers.get('content-type')?.includes('json') ? ((await r.json()) as unknown) : undefined))
        .then((reply) => reply && dispatch(reply))
        .catch(() => undefined);
    },
  };
  return { api, source: { addEventListener: (_type, l) => void listeners.push(l) } };
}
