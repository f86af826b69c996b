#!/usr/bin/env python3
"""moto_server (the Secrets Manager emulator) serving one request at a time.

moto's Secrets Manager backend is not thread-safe: a GetSecretValue that looks a
secret up by name iterates the backend's dict while a concurrent CreateSecret or
DeleteSecret changes it ("RuntimeError: dictionary changed size during
iteration", answered as an HTML 500). The tests create and delete tenants (and
their secrets) concurrently, so that race made rare, unrelated test failures.
This runs moto's own WSGI application behind one lock: each request is handled,
its body produced, before the next one starts. Requests are small; the lock
costs the tests nothing measurable.

    python3 scripts/moto-serial.py HOST PORT
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            # The whole body is produced under the lock.
            return [b"".join(app(environ, start_response))]

    run_simple(host, port, serial, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
