"""Capture monitoring events with Celery's own receiver (app.events.Receiver) for Sprig's
interop suite: prints `READY` once its queue is declared, then one JSON line per event, and
exits after argv[1] seconds (default 10)."""
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
        ready = recv.on_consume_ready

        def on_ready(*args, **kwargs):
            ready(*args, **kwargs)
            print('READY', flush=True)

        recv.on_consume_ready = on_ready
        try:
            for _ in recv.itercapture(limit=None, timeout=seconds, wakeup=True):
                if time.time() > deadline:
                    break
        except socket.timeout:
            pass
        # Nothing received for a while: itercapture gives up only after its own timeout.
    return 0


if __name__ == '__main__':
    sys.exit(main())
