"""Celery peer for `npm run bench` (run as /usr/bin/python3 -m celery, Debian's python3-celery).

Worker:   BENCH_BROKER=... BENCH_QUEUE=... python3 -m celery -A celery_app worker -P prefork -c 2 -Q $BENCH_QUEUE
Enqueue:  BENCH_BROKER=... BENCH_QUEUE=... python3 celery_app.py enqueue N   (prints the seconds it took)
"""
import os
import sys
import time

from celery import Celery

app = Celery('bench', broker=os.environ.get('BENCH_BROKER', 'redis://127.0.0.1:6379/9'))
app.conf.update(
    task_default_queue=os.environ.get('BENCH_QUEUE', 'bench'),
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=4,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name='bench.noop', ignore_result=True, acks_late=True)
def noop():
    return None


def enqueue(n):
    queue = app.conf.task_default_queue
    t0 = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            noop.apply_async(queue=queue, producer=producer)
    return time.perf_counter() - t0


if __name__ == '__main__' and len(sys.argv) >= 3 and sys.argv[1] == 'enqueue':
    print('%.6f' % enqueue(int(sys.argv[2])))
