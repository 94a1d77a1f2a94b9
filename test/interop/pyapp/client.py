"""A Python Celery client for Sprig's interop suite.

Reads a JSON spec (argv[1], or stdin) of calls, sends them all with Task.apply_async or
app.send_task, prints one JSON line `{"sent": {...}}`, then waits for every result with
AsyncResult.get() and prints `{"results": {...}}`.

spec = {"timeout": 20, "calls": [{"key": "k", "mode": "apply_async" | "send_task",
         "name": "proj.tasks.add", "args": [...], "kwargs": {...},
         "options": {"countdown", "eta_in", "expires", "priority", "task_id", "queue", "retries",
                     "serializer", "headers", "group_id", "time_limit", "soft_time_limit"}}]}
Each result also says whether the exception raised is Celery's own class (`celery_class`), and
`date_done` as Python parsed it next to the stored text (`date_done_raw`).
"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import celery.exceptions
from app import app

# What a Python project does to call tasks implemented elsewhere (here: by Sprig workers):
# declare a stub with the same name, then use the ordinary Task API on it.
SPRIG_TASKS = ['proj.tasks.add', 'proj.tasks.info', 'proj.tasks.fail', 'proj.tasks.flaky', 'proj.tasks.order', 'proj.tasks.sleep', 'proj.tasks.until_aborted']
stubs = {}
for _name in SPRIG_TASKS:
    def _stub(*args, **kwargs):
        raise NotImplementedError('implemented by a Sprig worker')
    stubs[_name] = app.task(name=_name)(_stub)


def main():
    spec = json.loads(open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read())
    timeout = float(spec.get('timeout', 20))
    handles = {}
    sent = {}
    for call in spec['calls']:
        opts = dict(call.get('options') or {})
        if 'eta_in' in opts:
            opts['eta'] = datetime.now(timezone.utc) + timedelta(seconds=opts.pop('eta_in'))
        if 'expires' in opts and isinstance(opts['expires'], str):
            opts['expires'] = datetime.fromisoformat(opts['expires'])
        t0 = time.time()
        if call.get('mode', 'apply_async') == 'send_task':
            r = app.send_task(call['name'], args=call.get('args', []), kwargs=call.get('kwargs', {}), **opts)
        else:
            task = stubs.get(call['name']) or app.tasks[call['name']]
            r = task.apply_async(args=call.get('args', []), kwargs=call.get('kwargs', {}), **opts)
        handles[call['key']] = r
        sent[call['key']] = {'id': r.id, 'sent_at': t0}
    print(json.dumps({'sent': sent}), flush=True)

    results = {}
    deadline = time.time() + timeout
    for key, r in handles.items():
        out = {'id': r.id}
        try:
            out['result'] = r.get(timeout=max(0.1, deadline - time.time()), interval=0.05)
            out['state'] = r.state
        except Exception as e:  # noqa: BLE001 - we report whatever Celery raised
            out['state'] = r.state
            out['exc_type'] = type(e).__name__
            out['exc_module'] = type(e).__module__
            out['exc_args'] = [a if isinstance(a, (str, int, float, bool, type(None))) else repr(a) for a in e.args]
            # What `except celery.exceptions.<Name>` would catch (not a look-alike class made up on the fly).
            out['celery_class'] = isinstance(e, getattr(celery.exceptions, type(e).__name__, ()))
        meta = r.backend.get_task_meta(r.id)
        if meta.get('date_done'):
            out['date_done'] = r.date_done.isoformat()
            out['date_done_raw'] = meta['date_done']
        try:
            out['retries'] = r.retries if hasattr(r, 'retries') else None
        except Exception:  # noqa: BLE001
            pass
        results[key] = out
    print(json.dumps({'results': results}, default=repr), flush=True)
    try:
        app.close()
    except Exception:  # noqa: BLE001
        pass


if __name__ == '__main__':
    main()
