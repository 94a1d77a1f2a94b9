"""Celery canvases for Sprig's interop suite (test/interop/canvas.test.ts).

Reads {"qs": <queue a Sprig worker consumes>, "qp": <queue a Celery worker consumes>, "timeout": s}
on stdin, sends each scenario with Celery 5.2's own canvas (chain, chord, link, link_error),
routing each step by queue, and prints {"results": {name: {"value": ...} | {"exc_type", "exc_module", "message"}}}.
"""
import json
import sys

from celery import chain, chord, group
from app import app

spec = json.loads(sys.stdin.read())
QS, QP, TIMEOUT = spec['qs'], spec['qp'], float(spec.get('timeout', 30))


def stub(name):
    def _stub(*args, **kwargs):
        raise NotImplementedError('implemented by a Sprig worker')
    return app.task(name=name)(_stub)


sadd, stsum, sfail = stub('proj.tasks.add'), stub('proj.tasks.tsum'), stub('proj.tasks.fail')
padd, ptsum, pecho = app.tasks['app.add'], app.tasks['app.tsum'], app.tasks['app.echo']


def on_s(sig):
    return sig.set(queue=QS)


def on_p(sig):
    return sig.set(queue=QP)


def scenarios():
    yield 'chain_on_sprig', lambda: chain(on_s(sadd.s(1, 2)), on_s(sadd.s(3)), on_s(sadd.s(4)))()
    yield 'chord_on_sprig', lambda: chord([on_s(sadd.s(i, i)) for i in range(5)])(on_s(stsum.s()))
    cb = on_s(sadd.s(10))
    cb.freeze()
    yield 'link_on_sprig', lambda: (sadd.apply_async((2, 3), queue=QS, link=cb), app.AsyncResult(cb.id))[1]
    yield 'hop_py_sprig_py', lambda: chain(on_p(padd.s(1, 1)), on_s(sadd.s(10)), on_p(padd.s(100)))()
    yield 'chord_sprig_header_py_body', lambda: chord([on_s(sadd.s(i, 1)) for i in range(4)])(on_p(ptsum.s()))
    yield 'chord_py_header_sprig_body', lambda: chord([on_p(padd.s(i, 1)) for i in range(4)])(on_s(stsum.s()))
    yield 'chord_mixed_header', lambda: chord([on_p(padd.s(1, 1)), on_s(sadd.s(2, 2)), on_p(padd.s(3, 3)), on_s(sadd.s(4, 4))])(on_s(stsum.s()))
    eb = on_p(pecho.s())
    eb.freeze()
    failed = {}

    def send_failing():
        failed['r'] = sfail.apply_async(('broken on sprig',), queue=QS, link_error=eb)
        return app.AsyncResult(eb.id)
    yield 'link_error_on_sprig', send_failing
    yield 'chord_failing_sprig_part', lambda: chord([on_s(sadd.s(1, 1)), on_s(sfail.s('part broke'))])(on_p(ptsum.s()))
    yield 'group_on_sprig', lambda: group([on_s(sadd.s(i, 10)) for i in range(3)])()
    # The failed task's id, for the errback check.
    yield 'failed_id', lambda: failed['r']


def main():
    handles = {}
    for name, send in scenarios():
        handles[name] = send()
    print(json.dumps({'sent': {k: getattr(v, 'id', None) for k, v in handles.items()}}), flush=True)
    results = {}
    for name, r in handles.items():
        if name == 'failed_id':
            results[name] = {'value': r.id}
            continue
        if name.startswith('chord_failing'):
            # Celery's get() raises a failed header part's own error first: read the body's stored exception.
            r.get(timeout=TIMEOUT, interval=0.05, propagate=False)
            e = r.result
            results[name] = {'state': r.state, 'exc_type': type(e).__name__, 'exc_module': type(e).__module__, 'message': str(e)}
            continue
        try:
            results[name] = {'value': r.get(timeout=TIMEOUT, interval=0.05, propagate=True)}
        except Exception as e:  # noqa: BLE001 - we report whatever Celery raised
            results[name] = {'exc_type': type(e).__name__, 'exc_module': type(e).__module__, 'message': str(e)}
    print(json.dumps({'results': results}, default=repr), flush=True)


if __name__ == '__main__':
    main()
