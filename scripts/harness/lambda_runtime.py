"""The Lambda Runtime API on localhost, for running the function binaries without Docker.

Each `FunctionProcess` is one function instance: an HTTP server speaking the Runtime API
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on its own port and one
child process polling it. `Pool` spreads invocations over several instances of one binary;
`apigw_event` builds the API Gateway HTTP API (payload 2.0) events `lambda_http` expects.

CLI: python scripts/harness/lambda_runtime.py BINARY EVENT_JSON_FILE [--env-file F]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RUNTIME_PREFIX = "/2018-06-01/runtime"
ACCOUNT_ID = "123456789012"
STOP_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.05
LOG_TAIL_CHARS = 4000
# The three endpoints, as API Gateway passes their paths.
REGISTER = "/fe/users/auth/otp/register"
RESEND = "/fe/users/auth/otp/resend"
VERIFY = "/fe/users/auth/otp/verify"


class FunctionFailed(RuntimeError):
    """The function process exited or reported an init error, or `http_response` met an invocation error."""


@dataclass
class Invocation:
    """One event's outcome: the function's response (`body`) or its reported `error`."""

    request_id: str
    body: Any
    error: dict | None
    seconds: float

    def http_response(self) -> tuple[int, Any]:
        """(statusCode, parsed JSON body) of a `lambda_http` response; None for an empty body."""
        if self.error is not None:
            raise FunctionFailed(f"invocation {self.request_id} failed: {self.error}")
        text = self.body.get("body") or ""
        if self.body.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return self.body["statusCode"], json.loads(text) if text else None


class _PendingEvent:
    """An event handed to the function, until its response or error arrives."""

    def __init__(self, event: dict, timeout: float):
        self.request_id = str(uuid.uuid4())
        self.payload = json.dumps(event).encode()
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.queued_at = time.perf_counter()
        self.answered_at: float | None = None
        self.body: Any = None
        self.error: dict | None = None
        self.answered = threading.Event()

    def answer(self, body: Any = None, error: dict | None = None) -> None:
        self.answered_at = time.perf_counter()
        self.body, self.error = body, error
        self.answered.set()


class _RuntimeApiServer(ThreadingHTTPServer):
    """Thread per connection; a function that goes away mid-request is not an error."""

    def __init__(self, function: FunctionProcess):
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.function = function

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    """The Runtime API routes over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the function's own output is what matters."""

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            return self._reply(404, {"errorMessage": f"no route GET {self.path}"})
        function = self.server.function
        pending = function._next_event()
        if pending is None:
            self.close_connection = True
            return
        self._reply(
            200,
            pending.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": function.arn,
                "Lambda-Runtime-Trace-Id": f"Root={_trace_root()};Parent={secrets.token_hex(8)};Sampled=0",
            },
        )

    def do_POST(self) -> None:
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return self._reply(501, {"errorMessage": "chunked (streaming) responses are not emulated"})
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        function = self.server.function
        if self.path == f"{RUNTIME_PREFIX}/init/error":
            function.init_error = _parse_json(body)
            return self._reply(202, {"status": "OK"})
        match = re.fullmatch(rf"{RUNTIME_PREFIX}/invocation/([^/]+)/(response|error)", self.path)
        if match is None:
            return self._reply(404, {"errorMessage": f"no route POST {self.path}"})
        request_id, outcome = match.groups()
        if outcome == "response":
            function._answer(request_id, body=_parse_json(body))
        else:
            function._answer(request_id, error=_parse_json(body))
        self._reply(202, {"status": "OK"})

    def _reply(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FunctionProcess:
    """One function instance: a Runtime API server on its own port and the process polling it."""

    def __init__(self) -> None:
        self.name = ""
        self.arn = ""
        self.runtime_api = ""
        self.started_at: float | None = None
        self.first_next_at: float | None = None
        self.init_error: Any = None
        self._process: subprocess.Popen | None = None
        self._server: _RuntimeApiServer | None = None
        self._log_file = tempfile.TemporaryFile()
        self._invoke_lock = threading.Lock()
        self._events = threading.Condition()
        self._offered: _PendingEvent | None = None
        self._in_flight: dict[str, _PendingEvent] = {}
        self._stopping = False
        self._final_usage: tuple[float, int] | None = None

    def start(self, binary: str | os.PathLike, env: dict[str, str] | None = None, name: str = "") -> FunctionProcess:
        """Serve the Runtime API, then spawn `binary` with `env` plus the Lambda variables.

        The child sees only those variables (nothing is inherited), as in Lambda.
        """
        binary = Path(binary).resolve()
        self.name = name or binary.name
        region = (env or {}).get("AWS_REGION", "us-east-1")
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{self.name}"
        self._server = _RuntimeApiServer(self)
        threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), name=f"runtime-api-{self.name}", daemon=True
        ).start()
        self.runtime_api = f"127.0.0.1:{self._server.server_port}"
        child_env = {
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_REGION": region,
            "LAMBDA_TASK_ROOT": str(binary.parent),
            "_HANDLER": binary.name,
            **(env or {}),
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
        }
        self.started_at = time.perf_counter()
        self._process = subprocess.Popen(
            [str(binary)], env=child_env, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        return self

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def init_seconds(self) -> float | None:
        """From spawning to the first /next; None until then."""
        return None if self.first_next_at is None else self.first_next_at - self.started_at

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Block until the first /next and return `init_seconds`; raise if the function fails first."""
        deadline = time.perf_counter() + timeout
        while self.first_next_at is None:
            self._raise_if_failed("before its first /next")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{self.name}: no /next within {timeout} s\n{self._log_tail()}")
            time.sleep(POLL_SECONDS / 5)
        return self.init_seconds

    def invoke(self, event: dict, timeout: float = 30.0) -> Invocation:
        """Hand `event` to the function and wait for its answer; callers queue, one event at a time.

        `timeout` counts from handing the event over and is also the deadline the function sees.
        On timeout the event is withdrawn if not yet taken; a late answer is discarded.
        """
        with self._invoke_lock:
            self._raise_if_failed("before the invocation")
            pending = _PendingEvent(event, timeout)
            with self._events:
                self._in_flight[pending.request_id] = pending
                self._offered = pending
                self._events.notify_all()
            try:
                while not pending.answered.wait(POLL_SECONDS):
                    self._raise_if_failed(f"during invocation {pending.request_id}")
                    if time.perf_counter() - pending.queued_at > timeout:
                        raise TimeoutError(
                            f"{self.name}: no answer to {pending.request_id} within {timeout} s\n{self._log_tail()}"
                        )
            finally:
                with self._events:
                    self._in_flight.pop(pending.request_id, None)
                    if self._offered is pending:
                        self._offered = None
            return Invocation(pending.request_id, pending.body, pending.error, pending.answered_at - pending.queued_at)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process (as of `stop()` once stopped).

        Raises OSError once the process has exited by itself and been reaped.
        """
        if self._final_usage is not None:
            return self._final_usage[0]
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3, `state`
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kb(self) -> int:
        """The process's peak resident set (VmHWM) in kB (as of `stop()` once stopped)."""
        if self._final_usage is not None:
            return self._final_usage[1]
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise FunctionFailed(f"{self.name}: no VmHWM for pid {self.pid}")

    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        fd = self._log_file.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def stop(self) -> None:
        """Terminate the process (SIGTERM, SIGKILL after 2 s), then stop the server. Idempotent."""
        if self._process is not None and self._process.poll() is None:
            try:
                self._final_usage = (self.cpu_seconds(), self.peak_rss_kb())
            except (OSError, FunctionFailed):
                pass  # exited in between: no usage to keep
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        with self._events:
            self._stopping = True
            self._events.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_event(self) -> _PendingEvent | None:
        """Block a /next until an event is offered; None once stopping."""
        with self._events:
            if self.first_next_at is None:
                self.first_next_at = time.perf_counter()
            while self._offered is None and not self._stopping:
                self._events.wait()
            pending, self._offered = self._offered, None
            return pending

    def _answer(self, request_id: str, body: Any = None, error: dict | None = None) -> None:
        with self._events:
            pending = self._in_flight.pop(request_id, None)
        if pending is not None:
            pending.answer(body, error)

    def _raise_if_failed(self, when: str) -> None:
        if self.init_error is not None:
            raise FunctionFailed(f"{self.name} reported an init error {when}: {self.init_error}\n{self._log_tail()}")
        if self._process.poll() is not None:
            raise FunctionFailed(
                f"{self.name} exited with {self._process.returncode} {when}; its output:\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        return self.logs()[-LOG_TAIL_CHARS:]


class Pool:
    """`size` instances of one binary; each invocation goes to a free one."""

    def __init__(self, binary: str | os.PathLike, size: int, env: dict[str, str] | None = None, name: str = ""):
        self.binary, self.env, self.name = binary, env, name
        self.processes = [FunctionProcess() for _ in range(size)]
        self._free: queue.Queue[FunctionProcess] = queue.Queue()

    def start(self, ready_timeout: float = 30.0) -> Pool:
        """Spawn every instance, then wait until all are ready (their inits overlap)."""
        try:
            for process in self.processes:
                process.start(self.binary, self.env, self.name)
            for process in self.processes:
                process.wait_ready(ready_timeout)
                self._free.put(process)
        except BaseException:
            self.stop()
            raise
        return self

    def invoke(self, event: dict, timeout: float = 30.0) -> Invocation:
        """Invoke on the first free instance, blocking until one is free."""
        process = self._free.get()
        try:
            return process.invoke(event, timeout)
        finally:
            self._free.put(process)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def apigw_event(
    method: str,
    path: str,
    body: dict | str | None = None,
    headers: dict[str, str] | None = None,
    source_ip: str = "203.0.113.10",
) -> dict:
    """An API Gateway HTTP API payload 2.0 event shaped like events/register.json.

    A dict body is sent as JSON; `headers` (lowercased, as API Gateway does) override the defaults.
    """
    text = json.dumps(body) if isinstance(body, dict) else body
    domain_prefix = "abcdef1234"
    domain = f"{domain_prefix}.execute-api.us-east-1.amazonaws.com"
    all_headers = {
        "accept": "application/json",
        **({"content-type": "application/json"} if isinstance(body, dict) else {}),
        **({"content-length": str(len(text.encode()))} if text is not None else {}),
        "host": domain,
        "user-agent": "okhttp/4.12.0",
        "x-amzn-trace-id": f"Root={_trace_root()}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{name.lower(): value for name, value in (headers or {}).items()},
    }
    now = time.time()
    route_key = f"{method} {path}"
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": domain_prefix,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers["user-agent"],
            },
            "requestId": base64.b64encode(secrets.token_bytes(11)).decode(),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if text is not None:
        event["body"] = text
    return event


def _trace_root() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _parse_json(body: bytes) -> Any:
    """The JSON in `body`, or its text if it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def _read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines, as in events/local.env; blank lines and # comments skipped."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a Lambda function binary on one event.")
    parser.add_argument("binary")
    parser.add_argument("event_file", help="the event JSON, e.g. events/register.json")
    parser.add_argument("--env-file", help="KEY=VALUE lines for the function, e.g. events/local.env")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for init and for the invocation")
    args = parser.parse_args()
    env = _read_env_file(args.env_file) if args.env_file else {}
    event = json.loads(Path(args.event_file).read_text())
    function = FunctionProcess()
    try:
        function.start(args.binary, env)
        init_seconds = function.wait_ready(args.timeout)
        invocation = function.invoke(event, args.timeout)
    except (FunctionFailed, TimeoutError) as failure:
        print(failure, file=sys.stderr)  # its message ends with the function's output
        return 2
    finally:
        function.stop()
    sys.stderr.write(function.logs())
    print(json.dumps(invocation.error or invocation.body, indent=2))
    print(f"init {init_seconds * 1000:.1f} ms, invocation {invocation.seconds * 1000:.1f} ms")
    return 1 if invocation.error else 0


if __name__ == "__main__":
    sys.exit(main())
