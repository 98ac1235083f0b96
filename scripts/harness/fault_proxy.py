"""HTTP proxy to moto that injects faults on command: `fault_proxy.py LISTEN_PORT UPSTREAM_URL`.

Tests point the AWS SDK (`AWS_ENDPOINT_URL`) at this proxy. It forwards every request to
UPSTREAM_URL and, for operations given a rule through its control API under `/_proxy/`,
answers a share of the calls with a fault: a service error, a reset connection, a delay,
or an answer lost after the upstream applied the request. See `handle_control` for the API
and `DYNAMODB_ERRORS`, `SNS_ERRORS` and `CONNECTION_FAULTS` for the faults.

Listens on 127.0.0.1 (LISTEN_PORT 0 picks a free port), prints
`fault proxy on http://127.0.0.1:PORT` once listening, and serves until SIGTERM or SIGINT.
Each request goes upstream on a fresh connection, because moto_serial.py answers one
connection at a time and closes it after each answer.
"""

import http.client
import json
import math
import signal
import ssl
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONTROL_PREFIX = "/_proxy/"
UPSTREAM_TIMEOUT_SECONDS = 120
HOP_BY_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",  # this proxy answers `100-continue` itself and forwards the whole body
}
TARGET_SERVICES = {
    "DynamoDB_20120810": "DynamoDB",
    "secretsmanager": "SecretsManager",
    "AmazonSSM": "SSM",
}
SNS_API_VERSION = "2010-03-31"

# fault -> (HTTP status, exception type, message), for the JSON 1.0 protocol
DYNAMODB_ERRORS = {
    "throttling": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "provisioned_throughput_exceeded": (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    "internal_server_error": (500, "InternalServerError", "Internal server error"),
    "service_unavailable": (503, "ServiceUnavailable", "Service is unavailable"),
}
# fault -> (HTTP status, error type, code, message), for the query protocol
SNS_ERRORS = {
    "throttling": (400, "Sender", "Throttling", "Rate exceeded"),
    "internal_error": (500, "Receiver", "InternalError", "Internal error"),
    "internal_server_error": (500, "Receiver", "InternalError", "Internal error"),
}
SERVICE_ERRORS = {"DynamoDB": DYNAMODB_ERRORS, "SNS": SNS_ERRORS}
CONNECTION_FAULTS = {"reset", "delay", "lost"}
KNOWN_FAULTS = CONNECTION_FAULTS | DYNAMODB_ERRORS.keys() | SNS_ERRORS.keys()


class BadRule(ValueError):
    """A fault rule that cannot be applied."""


@dataclass
class FaultRule:
    """Which share of the calls to one operation get which fault, and how many so far.

    The k-th matching call (k = 1, 2, ...) is faulted iff floor(k * share) >
    floor((k - 1) * share), and at most `count` calls are, if set.
    """

    operation: str
    fault: str
    share: float = 1.0
    delay_seconds: float | None = None
    count: int | None = None
    matched_calls: int = 0
    faulted_calls: int = 0

    def next_call_is_faulted(self) -> bool:
        """Counts one more matching call and tells whether it gets the fault."""
        self.matched_calls += 1
        k = self.matched_calls
        if self.count is not None and self.faulted_calls >= self.count:
            return False
        if math.floor(k * self.share) <= math.floor((k - 1) * self.share):
            return False
        self.faulted_calls += 1
        return True


def parse_rule(spec: object) -> FaultRule:
    """The rule described by a control request's JSON, or BadRule saying what is wrong."""
    if not isinstance(spec, dict):
        raise BadRule("the rule must be a JSON object")
    unknown_keys = spec.keys() - {"operation", "fault", "share", "delay_seconds", "count"}
    if unknown_keys:
        raise BadRule(f"unknown keys: {sorted(unknown_keys)}")
    operation, fault = spec.get("operation"), spec.get("fault")
    if not isinstance(operation, str) or not operation:
        raise BadRule("operation must be a non-empty string, e.g. DynamoDB:PutItem")
    if fault not in KNOWN_FAULTS:
        raise BadRule(f"fault must be one of {sorted(KNOWN_FAULTS)}")
    service = operation.split(":", 1)[0]
    if fault not in CONNECTION_FAULTS and fault not in SERVICE_ERRORS.get(service, {}):
        raise BadRule(f"fault {fault} is not defined for operation {operation}")
    share = spec.get("share", 1.0)
    if not is_number(share) or not 0 < share <= 1:
        raise BadRule("share must be a number in (0, 1]")
    delay_seconds = spec.get("delay_seconds")
    if fault == "delay" and (not is_number(delay_seconds) or delay_seconds < 0):
        raise BadRule("the delay fault needs delay_seconds, a number >= 0")
    count = spec.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise BadRule("count must be null or an integer >= 1")
    return FaultRule(operation, fault, float(share), delay_seconds, count)


def is_number(value: object) -> bool:
    """Whether a JSON value is a number (and not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ProxyState:
    """The fault rules and the request counts, shared by the connection threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: dict[str, FaultRule] = {}
        self.requests: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()
        self.sms: dict[str, list[str]] = {}
        # DynamoDB items written, by (partition key, "transaction" or "single"), for the
        # hot-item report of `make bench` (scripts/perf/hot_items.py).
        self.writes: Counter[tuple[str, str]] = Counter()

    def count_call(self, operation: str) -> FaultRule | None:
        """Counts a call to operation; returns the rule whose fault it gets, if any."""
        with self.lock:
            self.requests[operation] += 1
            rule = self.rules.get(operation)
            if rule is None or not rule.next_call_is_faulted():
                return None
            self.faulted[operation] += 1
            return rule


def operation_name(method: str, path: str, headers: http.client.HTTPMessage, body: bytes) -> str:
    """The name rules and counts use for a request, e.g. `DynamoDB:PutItem`, `SNS:Publish`."""
    target = headers.get("X-Amz-Target", "")
    prefix, _, target_operation = target.partition(".")
    if prefix in TARGET_SERVICES and target_operation:
        return f"{TARGET_SERVICES[prefix]}:{target_operation}"
    if headers.get_content_type() == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            service = "SNS" if form.get("Version") == [SNS_API_VERSION] else "Query"
            return f"{service}:{form['Action'][0]}"
    return f"{method} {urlsplit(path).path}"


# The DynamoDB writes whose items the proxy records, and where each keeps its items' keys.
SINGLE_WRITES = {"DynamoDB:UpdateItem": "Key", "DynamoDB:DeleteItem": "Key", "DynamoDB:PutItem": "Item"}
TRANSACTION_PARTS = {"Update": "Key", "Delete": "Key", "Put": "Item", "ConditionCheck": "Key"}


def written_items(operation: str, body: bytes) -> list[tuple[str, str]]:
    """The partition keys (`pk`) a DynamoDB write touches, each with "single" or
    "transaction"; every part of a transaction counts, its condition checks too, since each
    takes the item's write capacity. Nothing for any other request."""
    if operation not in SINGLE_WRITES and operation != "DynamoDB:TransactWriteItems":
        return []
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return []

    def pk(attributes: object) -> str | None:
        value = attributes.get("pk") if isinstance(attributes, dict) else None
        return value.get("S") if isinstance(value, dict) else None

    if operation in SINGLE_WRITES:
        key = pk(request.get(SINGLE_WRITES[operation]))
        return [(key, "single")] if key else []
    keys = []
    for part in request.get("TransactItems", []):
        for kind, field in TRANSACTION_PARTS.items():
            key = pk((part.get(kind) or {}).get(field))
            if key:
                keys.append((key, "transaction"))
    return keys


def dynamodb_error(fault: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of DynamoDB's answer for an error fault."""
    status, error_type, message = DYNAMODB_ERRORS[fault]
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if fault == "service_unavailable":
        headers["x-amzn-ErrorType"] = error_type
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message}
    return status, headers, json.dumps(body, separators=(",", ":")).encode()


def sns_error(fault: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of SNS's answer for an error fault."""
    status, error_type, code, message = SNS_ERRORS[fault]
    body = (
        f'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/{SNS_API_VERSION}/">'
        f"<Error><Type>{error_type}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml"}, body.encode()


class FaultProxyHandler(BaseHTTPRequestHandler):
    """Answers one client connection: control requests, faults, or forwarded requests."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK of the headers, 40 ms a request.
    disable_nagle_algorithm = True
    server: "FaultProxyServer"

    def handle(self) -> None:
        """Serves the connection's requests until it closes; a client that left is no error."""
        try:
            super().handle()
        except ConnectionError:
            pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Logs nothing per request; errors are still logged to stderr."""

    def handle_any_method(self) -> None:
        """Answers one request: a control request, a fault, or upstream's answer."""
        body = self.read_body()
        if self.path.startswith(CONTROL_PREFIX):
            self.handle_control(body)
            return
        operation = operation_name(self.command, self.path, self.headers, body)
        rule = self.server.state.count_call(operation)
        written = written_items(operation, body)
        if written:
            with self.server.state.lock:
                self.server.state.writes.update(written)
        fault = rule.fault if rule else None
        if fault == "reset":
            self.reset_connection()
            return
        if fault is not None and fault not in CONNECTION_FAULTS:
            self.send_service_error(operation.split(":", 1)[0], fault)
            return
        if fault == "delay":
            time.sleep(rule.delay_seconds)
        answer = self.forward(body)
        if operation == "SNS:Publish" and answer[0] == 200:
            form = parse_qs(body.decode(errors="replace"))
            phone, message = form.get("PhoneNumber", [""])[0], form.get("Message", [""])[0]
            with self.server.state.lock:
                self.server.state.sms.setdefault(phone, []).append(message)
        if fault == "lost":
            self.reset_connection()
        else:
            self.send_answer(*answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any_method

    def read_body(self) -> bytes:
        """The request body, whether sent with Content-Length or chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";", 1)[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF closing the chunk
            while self.rfile.readline().strip():  # trailer headers, up to the blank line
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Sends the request upstream; returns its status, reason, headers and body."""
        upstream = self.server.upstream
        named_by_connection = {
            name.strip().lower() for name in self.headers.get("Connection", "").split(",")
        }
        dropped = HOP_BY_HOP_HEADERS | named_by_connection | {"host", "content-length"}
        connection = http.client.HTTPConnection(
            upstream.hostname, upstream.port or 80, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            connection.putrequest(
                self.command,
                upstream.path.rstrip("/") + self.path,
                skip_host=True,
                skip_accept_encoding=True,
            )
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.putheader("Host", upstream.netloc)
            for name, value in self.headers.items():
                if name.lower() not in dropped:
                    connection.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        except (OSError, http.client.HTTPException) as error:
            message = json.dumps({"error": f"upstream {upstream.geturl()} failed: {error!r}"})
            return 502, "Bad Gateway", [("Content-Type", "application/json")], message.encode()
        finally:
            connection.close()

    def send_answer(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        """Sends an answer with its headers (but no hop-by-hop ones) and a correct length."""
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP_HEADERS | {"content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_service_error(self, service: str, fault: str) -> None:
        """Sends the service's error answer for fault, with a fresh request id."""
        request_id = str(uuid.uuid4())
        if service == "DynamoDB":
            status, headers, body = dynamodb_error(fault)
        else:
            status, headers, body = sns_error(fault, request_id)
        headers |= {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
        self.send_answer(status, http.client.responses[status], list(headers.items()), body)

    def reset_connection(self) -> None:
        """Closes the connection with a TCP reset, so the client reads ECONNRESET."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # else the socket stays open through the reader's reference
        self.connection.close()

    def handle_control(self, body: bytes) -> None:
        """Answers a request to the control API (JSON in and out):

        POST /_proxy/faults      {"operation", "fault", "share"?, "delay_seconds"?, "count"?}
                                 adds or replaces the rule for operation
        DELETE /_proxy/faults    removes every rule
        GET /_proxy/requests     requests received per operation since the last reset
        GET /_proxy/faulted      faulted requests per operation since the last reset
        GET /_proxy/sms          the SMS published through the proxy, by phone number
        GET /_proxy/writes       DynamoDB items written: [{"key", "kind", "writes"}]
        DELETE /_proxy/requests  resets both counts and the items written
        """
        state = self.server.state
        endpoint = (self.command, urlsplit(self.path).path)
        if endpoint == ("POST", "/_proxy/faults"):
            try:
                rule = parse_rule(json.loads(body or b"null"))
            except ValueError as error:  # BadRule or malformed JSON
                self.send_json(400, {"error": str(error)})
                return
            with state.lock:
                state.rules[rule.operation] = rule
            self.send_json(200, {"ok": True})
            return
        with state.lock:
            if endpoint == ("DELETE", "/_proxy/faults"):
                state.rules.clear()
                answer = {"ok": True}
            elif endpoint == ("GET", "/_proxy/requests"):
                answer = dict(state.requests)
            elif endpoint == ("GET", "/_proxy/faulted"):
                answer = dict(state.faulted)
            elif endpoint == ("GET", "/_proxy/sms"):
                answer = {phone: list(messages) for phone, messages in state.sms.items()}
            elif endpoint == ("GET", "/_proxy/writes"):
                answer = [
                    {"key": key, "kind": kind, "writes": writes}
                    for (key, kind), writes in sorted(state.writes.items())
                ]
            elif endpoint == ("DELETE", "/_proxy/requests"):
                state.requests.clear()
                state.faulted.clear()
                state.writes.clear()
                answer = {"ok": True}
            else:
                answer = None
        if answer is None:
            self.send_json(404, {"error": f"no control endpoint {' '.join(endpoint)}"})
        else:
            self.send_json(200, answer)

    def send_json(self, status: int, value: object) -> None:
        """Sends value as a JSON answer."""
        headers = [("Content-Type", "application/json")]
        self.send_answer(status, http.client.responses[status], headers, json.dumps(value).encode())


class FaultProxyServer(ThreadingHTTPServer):
    """A server with a thread per connection, the upstream URL and the shared state."""

    request_queue_size = 128  # tests open many connections at once

    def __init__(self, port: int, upstream_url: str) -> None:
        self.upstream = urlsplit(upstream_url)
        if self.upstream.scheme != "http" or not self.upstream.hostname:
            raise ValueError(f"UPSTREAM_URL must be an http:// URL, not {upstream_url!r}")
        self.state = ProxyState()
        super().__init__(("127.0.0.1", port), FaultProxyHandler)


def main() -> int:
    """Serves the proxy on the command line's port until SIGTERM or SIGINT; with a
    certificate and its key (PEM files), over TLS, as AWS endpoints are."""
    if len(sys.argv) not in (3, 5):
        print("usage: fault_proxy.py LISTEN_PORT UPSTREAM_URL [CERT_PEM KEY_PEM]", file=sys.stderr)
        return 2
    try:
        server = FaultProxyServer(int(sys.argv[1]), sys.argv[2])
        if len(sys.argv) == 5:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[3], sys.argv[4])
            server.socket = context.wrap_socket(server.socket, server_side=True)
    except (ValueError, OSError) as error:
        print(f"fault_proxy.py: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    with server:
        scheme = "https" if len(sys.argv) == 5 else "http"
        print(f"fault proxy on {scheme}://127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
