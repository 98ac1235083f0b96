"""moto's server, answering one request at a time: `moto_serial.py HOST PORT`.

DynamoDB applies every conditional write and every transaction atomically; moto's own
server runs requests on concurrent threads without that isolation, so two transactions can
both pass a condition that only one of them should. Serving requests one after another
gives the tests DynamoDB's isolation, so a concurrency test fails only when our condition
expressions are wrong, not when the emulator races.

One request at a time, moto's speed matters; its transactions are patched below to back up
only the items they name (see `transact_write_items`). The store contract tests, whose
cancelled transactions must change nothing, hold the patch to DynamoDB's semantics.
"""

import copy
import os
import sys
import types

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, run_simple

_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self: DynamoDBBackend, transact_items: list) -> None:
    """moto's transaction, with a rollback copy of the items it can change only.

    moto backs a transaction up by deep-copying the whole table once per item of the
    transaction, so each one costs time in proportion to the table, and a load run or a
    long test slows down as its table fills. A transaction only changes the items it
    names: the copy here shares every other item with the table and deep-copies those,
    which restores the same state on rollback.
    """
    named: dict[str, set] = {}
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = self.tables.get(op.get("TableName"))
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if table is not None and key and table.hash_key_attr in key:
            named.setdefault(table.name, set()).add(DynamoType(key[table.hash_key_attr]))

    def rollback_copy(value, memo=None):
        if not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        backup = copy.copy(value)
        backup.items = copy.copy(value.items)
        for hash_key in named.get(value.name, ()):
            if hash_key in value.items:
                backup.items[hash_key] = copy.deepcopy(value.items[hash_key])
        return backup

    module_copy = dynamodb_models.copy
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=rollback_copy, copy=copy.copy)
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = module_copy


DynamoDBBackend.transact_write_items = transact_write_items


class NoDelayHandler(WSGIRequestHandler):
    """werkzeug's handler with TCP_NODELAY: it writes an answer's headers and body apart,
    and with Nagle's algorithm the body would wait 40 ms for the client's delayed ACK."""

    disable_nagle_algorithm = True


def serve(host: str, port: int) -> None:
    """Serves moto on host:port until the process ends, one request at a time."""
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False, request_handler=NoDelayHandler)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
