"""Celery's task API against Sprig tasks (test/interop/task-api.test.ts).

Reads {"qs": <queue a Sprig worker consumes>, "qp": <queue a Celery worker consumes>, "timeout": s}
on stdin. Sends, with Celery 5.2's own canvas: a chain whose middle task replaces itself with a
chain, a group whose member replaces itself with a group, a chord whose parts add to it, a task sent
with a priority, a routing key and a header (to a Sprig worker and to a Celery worker), and a Sprig
task that raises a declared exception, caught here by its Python class. Prints
{"results": {name: {"value": ...} | {"caught": ..., "args": [...]} | {"exc_type", "exc_module", "message"}}}.
"""
import json
import sys

from celery import chain, chord, group
from app import app
import shop_errors

spec = json.loads(sys.stdin.read())
QS, QP, TIMEOUT = spec['qs'], spec['qp'], float(spec.get('timeout', 30))


def stub(name):
    def _stub(*args, **kwargs):
        raise NotImplementedError('implemented by a Sprig worker')
    return app.task(name=name)(_stub)


add, mul, tsum = stub('api.add'), stub('api.mul'), stub('api.tsum')
replace_with_chain, replace_with_group = stub('api.replace_with_chain'), stub('api.replace_with_group')
grow, request, pay = stub('api.grow'), stub('api.request'), stub('api.pay')
prequest = app.tasks['app.request_info']


def s(sig):
    return sig.set(queue=QS)


def main():
    h = {}
    h['replace_in_chain'] = chain(s(add.s(1, 1)), s(replace_with_chain.s()), s(mul.s(2)))()
    h['replace_in_group'] = group([s(add.s(1, 1)), s(replace_with_group.s(5)), s(add.s(2, 2))])()
    h['add_to_chord'] = chord([s(grow.s(1)), s(grow.s(2))])(s(tsum.s()))
    opts = dict(priority=5, routing_key=QS, headers={'x-trace': 'py'})
    h['request_sprig'] = request.apply_async(queue=QS, **opts)
    h['request_celery'] = prequest.apply_async(queue=QP, **dict(opts, routing_key=QP))
    h['declined'] = pay.apply_async(('card_expired', 42), queue=QS)
    print(json.dumps({'sent': {k: v.id for k, v in h.items()}}), flush=True)
    results = {}
    for name, r in h.items():
        try:
            value = r.get(timeout=TIMEOUT, interval=0.05, propagate=True)
            if name == 'replace_in_chain':
                results['replace_in_chain_parent'] = {'value': r.parent.get(timeout=TIMEOUT, interval=0.05)}
            results[name] = {'value': value}
        except shop_errors.PaymentDeclined as e:
            results[name] = {'caught': 'shop_errors.PaymentDeclined', 'args': list(e.args)}
        except Exception as e:  # noqa: BLE001 - we report whatever Celery raised
            results[name] = {'exc_type': type(e).__name__, 'exc_module': type(e).__module__, 'message': str(e)}
    results['request_sprig_id'] = {'value': h['request_sprig'].id}
    results['request_celery_id'] = {'value': h['request_celery'].id}
    print(json.dumps({'results': results}, default=repr), flush=True)


if __name__ == '__main__':
    main()
