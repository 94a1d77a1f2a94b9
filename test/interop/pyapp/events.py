"""Capture monitoring events with Celery's own receiver (app.events.Receiver) for Sprig's
interop suite: prints `READY` once it listens, then one JSON line per event, and exits after
`argv[1]` seconds (default 10)."""
import json
import socket
import sys
import time

from app import app


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    deadline = time.time() + seconds

    def on_event(event):
        print(json.dumps(event, default=repr), flush=True)

    with app.connection_for_read() as conn:
        recv = app.events.Receiver(conn, handlers={'*': on_event})
        # Declare and bind the receiver queue before saying READY, so nothing sent later is missed.
        consumer = recv.consumer(conn.default_channel) if hasattr(recv, 'consumer') else None
        print('READY', flush=True)
        for _ in recv.itercapture(limit=None, timeout=0.2, wakeup=False):
            if time.time() > deadline:
                break
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except socket.timeout:
        sys.exit(0)
