"""Revoke and expiry of tasks that wait for a pool slot, from Python (Sprig's interop suite).

Reads a JSON spec on stdin: {"host", "gate", "ms", "n", "revoke", "expire", "expires", "timeout"}.
Sends `n` proj.tasks.gated(gate, ms) tasks (the one at index `expire` with `expires` seconds),
then prints one JSON line at each step:
  {"sent": {"ids": [...], "expires_at": <epoch s>}}
  {"held": <query_task reply>}       once the worker holds tasks 0, `revoke` and `expire`, 0 running
  {"revoked": <id>}                  after AsyncResult.revoke() on task `revoke`
  {"results": [{"id", "state", "result" | "exc_type", "exc_module", "exc_args"}]}
The test opens the gate (creates the file) after "revoked" and once task `expire` has expired.
"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from app import app


def emit(**kv):
    print(json.dumps(kv), flush=True)


def main():
    spec = json.loads(sys.stdin.read())
    host = spec['host']
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=spec['expires'])
    handles = []
    for i in range(spec['n']):
        opts = {'expires': expires_at} if i == spec['expire'] else {}
        handles.append(app.send_task('proj.tasks.gated', args=[spec['gate'], spec['ms']], **opts))
    ids = [r.id for r in handles]
    emit(sent={'ids': ids, 'expires_at': expires_at.timestamp()})

    wanted = [ids[0], ids[spec['revoke']], ids[spec['expire']]]
    deadline = time.time() + spec['timeout']
    while True:
        reply = app.control.inspect(destination=[host], timeout=2).query_task(*wanted) or {}
        mine = reply.get(host) or {}
        if len(mine) == 3 and mine[ids[0]][0] == 'active':
            emit(held=reply)
            break
        if time.time() > deadline:
            emit(error='the worker did not hold the tasks', last=reply)
            return
        time.sleep(0.1)

    handles[spec['revoke']].revoke()
    emit(revoked=ids[spec['revoke']])

    results = []
    for r in handles:
        out = {'id': r.id}
        try:
            out['result'] = r.get(timeout=max(0.1, deadline - time.time()), interval=0.05)
        except Exception as e:  # noqa: BLE001 - we report whatever Celery raised
            out['exc_type'] = type(e).__name__
            out['exc_module'] = type(e).__module__
            out['exc_args'] = [a if isinstance(a, (str, int, float, bool, type(None))) else repr(a) for a in e.args]
        out['state'] = r.state
        results.append(out)
    emit(results=results)


if __name__ == '__main__':
    main()
