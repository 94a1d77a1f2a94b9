"""Celery app for Sprig's interop suite, configured from the environment.

INTEROP_BROKER   broker URL (redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)
INTEROP_BACKEND  result backend URL (redis://127.0.0.1:6379/0 or rpc://); empty: none
INTEROP_QUEUE    the default queue (tests use test-<uuid>)
INTEROP_MAX_PRIORITY  task_queue_max_priority (default 10; empty: Celery's default, none)
"""
import os

from celery import Celery

BROKER = os.environ.get('INTEROP_BROKER', 'redis://127.0.0.1:6379/0')
BACKEND = os.environ.get('INTEROP_BACKEND') or None
QUEUE = os.environ.get('INTEROP_QUEUE', 'celery')
MAX_PRIORITY = os.environ.get('INTEROP_MAX_PRIORITY', '10')

app = Celery('app', broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue=QUEUE,
    # Sprig creates RabbitMQ task queues with x-max-priority 10: declare them the same way,
    # or RabbitMQ refuses the redeclaration (PRECONDITION_FAILED). Ignored on Redis.
    task_queue_max_priority=int(MAX_PRIORITY) if MAX_PRIORITY else None,
    task_default_priority=None,
    result_expires=600,
    accept_content=['json'],
    task_serializer='json',
    result_serializer='json',
    worker_prefetch_multiplier=1,
    broker_connection_retry=False,
    enable_utc=True,
)


@app.task(name='app.add')
def add(x, y):
    return x + y


@app.task(name='app.fail')
def fail(msg='boom'):
    raise ValueError(msg)


@app.task(bind=True, name='app.flaky')
def flaky(self, x):
    if self.request.retries < 1:
        raise self.retry(countdown=0.1, max_retries=3)
    return {'value': x * 2, 'retries': self.request.retries}


@app.task(bind=True, name='app.info')
def info(self, *args, **kwargs):
    r = self.request
    return {
        'id': r.id,
        'args': list(args),
        'kwargs': kwargs,
        'retries': r.retries,
        'hostname': r.hostname,
        'queue': (r.delivery_info or {}).get('routing_key'),
        'lang': (r.get('lang') if hasattr(r, 'get') else None),
    }


@app.task(name='app.sleep')
def sleep(seconds):
    import time
    time.sleep(seconds)
    return seconds


@app.task(bind=True, name='app.trace_headers')
def trace_headers(self):
    # Where opentelemetry-instrumentation-celery reads trace context on the worker (task_prerun:
    # extract(task.request) with a getter doing getattr(request, key)): protocol-v2 headers
    # become attributes of the task's request.
    return {key: getattr(self.request, key, None) for key in ('traceparent', 'tracestate', 'baggage')}


@app.task(name='app.tsum')
def tsum(xs):
    return sum(xs)


@app.task(name='app.echo')
def echo(*args):
    return list(args)


@app.task(bind=True, name='app.request_info')
def request_info(self):
    """What a Celery worker sees of its request: the test compares it with what a Sprig task sees."""
    r = self.request
    di = r.delivery_info or {}
    return {
        'deliveryInfo': {'exchange': di.get('exchange'), 'routingKey': di.get('routing_key'), 'priority': di.get('priority')},
        # Celery 5.2 puts a message's own headers on the request itself (request.headers is None).
        'headers': {'x-trace': r.get('x-trace')},
        'correlationId': r.correlation_id,
        'replyTo': r.reply_to,
        'id': r.id,
    }


@app.task(name='app.declined')
def declined(code, amount):
    import shop_errors
    raise shop_errors.PaymentDeclined(code, amount)
