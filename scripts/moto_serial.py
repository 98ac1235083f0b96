"""moto's server, answering one request at a time: `moto_serial.py HOST PORT`.

DynamoDB applies every conditional write and every transaction atomically; moto's own
server runs requests on concurrent threads without that isolation, so two transactions can
both pass a condition that only one of them should. Serving requests one after another
gives the tests DynamoDB's isolation, so a concurrency test fails only when our condition
expressions are wrong, not when the emulator races.
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serve(host: str, port: int) -> None:
    """Serves moto on host:port until the process ends, one request at a time."""
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
