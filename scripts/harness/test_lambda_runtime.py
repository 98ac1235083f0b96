"""Self-test of lambda_runtime.py against a fake function written in Python.

The fake behaves like a Lambda runtime client: one keep-alive connection to the Runtime API,
a loop on /next, an echo of each event's body, /error when the body asks for it.
Run: python scripts/harness/test_lambda_runtime.py (prints one line per check; non-zero on
failure).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lambda_runtime import FunctionFailed, FunctionProcess, Pool, apigw_event  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
INIT_SECONDS = 0.2  # FAKE_FUNCTION's sleep before its first /next

FAKE_FUNCTION = r'''
import http.client, json, os, signal, sys, time

required = ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_GROUP_NAME"]
missing = [name for name in required if name not in os.environ]
if missing:
    sys.exit(f"fake: missing {missing}")
if os.environ.get("FAKE_IGNORE_SIGTERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("fake function starting", file=sys.stderr, flush=True)
time.sleep(0.2)  # INIT_SECONDS
connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
first_socket = None


def call(method, path, body=None):
    global first_socket
    connection.request(method, "/2018-06-01/runtime" + path, body=body)
    response = connection.getresponse()
    payload = response.read()
    first_socket = first_socket or connection.sock
    if connection.sock is not first_socket:
        sys.exit("fake: the Runtime API did not keep the connection alive")
    if response.status not in (200, 202):
        sys.exit(f"fake: {method} {path} answered {response.status}")
    return response, payload


if os.environ.get("FAKE_INIT_ERROR"):
    call("POST", "/init/error", json.dumps({"errorType": "Runtime.ConfigError", "errorMessage": "no table"}))
    time.sleep(60)

while True:
    response, payload = call("GET", "/invocation/next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    if int(response.getheader("Lambda-Runtime-Deadline-Ms")) < time.time() * 1000:
        sys.exit("fake: deadline already passed")
    if not response.getheader("Lambda-Runtime-Invoked-Function-Arn", "").startswith("arn:aws:lambda:"):
        sys.exit("fake: no function ARN")
    if not response.getheader("Lambda-Runtime-Trace-Id", "").startswith("Root=1-"):
        sys.exit("fake: no trace id")
    body = json.loads(json.loads(payload)["body"])
    time.sleep(body.get("sleep", 0))
    if body.get("crash"):
        os._exit(7)
    if "fail" in body:
        error = {"errorType": "Handler.Failed", "errorMessage": body["fail"]}
        call("POST", f"/invocation/{request_id}/error", json.dumps(error))
        continue
    answer = {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-pid": str(os.getpid()),
                    "x-tag": os.environ.get("FAKE_TAG", "")},
        "body": json.dumps({"echo": body}),
        "isBase64Encoded": False,
    }
    call("POST", f"/invocation/{request_id}/response", json.dumps(answer))
'''

EXITS_AT_ONCE = r'''
import sys
sys.exit("fatal: TABLE_NAME is not set")
'''


def write_executable(directory: Path, name: str, source: str) -> Path:
    """A script run by this interpreter, executable like a function binary."""
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755)
    return path


def event(body: dict) -> dict:
    return apigw_event("POST", "/fe/users/auth/otp/register", body)


def echoed(invocation) -> dict:
    status, body = invocation.http_response()
    assert status == 200, f"status {status}"
    return body["echo"]


def keys_of(value) -> object:
    """The nested key structure of a JSON value, for comparing shapes."""
    if isinstance(value, dict):
        return {key: keys_of(item) for key, item in value.items()}
    return type(value).__name__


def check_event_shape(fake: Path, work: Path) -> str:
    sample = json.loads((REPO / "events/register.json").read_text())
    built = apigw_event(
        "POST",
        "/fe/users/auth/otp/register",
        json.loads(sample["body"]),
        {"User-JWT-Token": "t"},
        "198.51.100.7",
    )
    assert keys_of(built) == keys_of(sample), f"{keys_of(built)} != {keys_of(sample)}"
    assert built["requestContext"]["http"]["sourceIp"] == "198.51.100.7"
    assert built["headers"]["user-jwt-token"] == "t"
    assert json.loads(built["body"]) == json.loads(sample["body"])
    ids = {event({})["requestContext"]["requestId"] for _ in range(100)}
    assert len(ids) == 100, "requestId repeats"
    return "same keys and types as events/register.json; requestId unique"


def check_init_and_sequential(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake, {}, "otp-register") as function:
        init_seconds = function.wait_ready(10)
        assert INIT_SECONDS <= init_seconds < INIT_SECONDS + 5, f"init {init_seconds:.3f} s"
        assert function.init_seconds == init_seconds
        seconds = []
        for number in range(50):
            invocation = function.invoke(event({"n": number}))
            assert invocation.error is None, invocation.error
            assert echoed(invocation) == {"n": number}, invocation.body
            seconds.append(invocation.seconds)
        assert "fake function starting" in function.logs()
    return f"init {init_seconds * 1000:.0f} ms; 50 invokes, median {sorted(seconds)[25] * 1000:.2f} ms"


def check_pool_concurrency(fake: Path, work: Path) -> str:
    with Pool(fake, 2).start(10) as pool:

        def invoke_several(thread: int) -> set[str]:
            pids = set()
            for number in range(5):
                sent = {"thread": thread, "n": number, "sleep": 0.05}
                invocation = pool.invoke(event(sent))
                assert echoed(invocation) == sent, f"{sent} got {invocation.body}"
                pids.add(invocation.body["headers"]["x-pid"])
            return pids

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as executor:
            pids = set().union(*executor.map(invoke_several, range(4)))
        elapsed = time.perf_counter() - started
    assert pids == {str(process.pid) for process in pool.processes}, f"served by {pids}"
    assert elapsed < 20 * 0.05, f"{elapsed:.2f} s: not parallel"
    return f"20 invokes from 4 threads on 2 processes in {elapsed:.2f} s, each answer its own"


def check_invocation_error(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake) as function:
        function.wait_ready(10)
        invocation = function.invoke(event({"fail": "bad phone"}))
        assert invocation.body is None, invocation.body
        assert invocation.error == {"errorType": "Handler.Failed", "errorMessage": "bad phone"}, invocation.error
        assert echoed(function.invoke(event({"after": "error"}))) == {"after": "error"}
    return f"error {invocation.error}; next invoke fine"


def check_timeout(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake) as function:
        function.wait_ready(10)
        try:
            function.invoke(event({"sleep": 0.6}), timeout=0.2)
            raise AssertionError("no TimeoutError")
        except TimeoutError:
            pass
        invocation = function.invoke(event({"after": "timeout"}))
        assert echoed(invocation) == {"after": "timeout"}, invocation.body
    return f"TimeoutError; the late answer discarded, the next invoke answered in {invocation.seconds:.2f} s"


def check_usage(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake) as function:
        function.wait_ready(10)
        function.invoke(event({}))
        cpu_seconds, peak_rss_kb = function.cpu_seconds(), function.peak_rss_kb()
        assert cpu_seconds > 0 and peak_rss_kb > 0, (cpu_seconds, peak_rss_kb)
    assert function.cpu_seconds() >= cpu_seconds and function.peak_rss_kb() >= peak_rss_kb, "not kept after stop"
    return f"cpu {cpu_seconds:.3f} s, peak RSS {peak_rss_kb} kB (kept after stop)"


def check_exits_at_once(fake: Path, work: Path) -> str:
    broken = write_executable(work, "exits-at-once", EXITS_AT_ONCE)
    with FunctionProcess().start(broken) as function:
        try:
            function.wait_ready(10)
            raise AssertionError("wait_ready returned")
        except FunctionFailed as failure:
            assert "TABLE_NAME is not set" in str(failure), str(failure)
    return "wait_ready raised FunctionFailed with the process's stderr"


def check_init_error(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake, {"FAKE_INIT_ERROR": "1"}) as function:
        try:
            function.wait_ready(10)
            raise AssertionError("wait_ready returned")
        except FunctionFailed as failure:
            assert "Runtime.ConfigError" in str(failure), str(failure)
    return "wait_ready raised FunctionFailed on /runtime/init/error"


def check_crash_during_invoke(fake: Path, work: Path) -> str:
    with FunctionProcess().start(fake) as function:
        function.wait_ready(10)
        try:
            function.invoke(event({"crash": True}))
            raise AssertionError("invoke returned")
        except FunctionFailed as failure:
            assert "exited with 7" in str(failure), str(failure)
    return "invoke raised FunctionFailed when the process died"


def check_stop(fake: Path, work: Path) -> str:
    function = FunctionProcess().start(fake, {"FAKE_IGNORE_SIGTERM": "1"})
    function.wait_ready(10)
    port = int(function.runtime_api.rpartition(":")[2])
    started = time.perf_counter()
    function.stop()
    elapsed = time.perf_counter() - started
    assert 2 <= elapsed < 4, f"stop took {elapsed:.2f} s"
    assert not Path(f"/proc/{function.pid}").exists(), "the process is still there"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("the server still listens")
    except ConnectionRefusedError:
        pass
    function.stop()
    return f"SIGTERM ignored, SIGKILL after {elapsed:.1f} s; process and server gone"


def check_cli(fake: Path, work: Path) -> str:
    event_file = work / "event.json"
    event_file.write_text(json.dumps(event({"via": "cli"})))
    env_file = work / "function.env"
    env_file.write_text("# a comment\nFAKE_TAG=from-env-file\n\n")
    script = Path(__file__).resolve().parent / "lambda_runtime.py"
    result = subprocess.run(
        [sys.executable, script, fake, event_file, "--env-file", env_file],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert '"x-tag": "from-env-file"' in result.stdout, result.stdout
    assert '\\"via\\": \\"cli\\"' in result.stdout, result.stdout
    assert "init " in result.stdout.splitlines()[-1], result.stdout
    assert "fake function starting" in result.stderr, result.stderr
    return result.stdout.splitlines()[-1]


def check_no_child_left(fake: Path, work: Path) -> str:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return "no child process"
    raise AssertionError("a child process is left")


CHECKS = [
    check_event_shape,
    check_init_and_sequential,
    check_pool_concurrency,
    check_invocation_error,
    check_timeout,
    check_usage,
    check_exits_at_once,
    check_init_error,
    check_crash_during_invoke,
    check_stop,
    check_cli,
    check_no_child_left,
]


def main() -> int:
    started = time.perf_counter()
    failures = 0
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        fake = write_executable(work, "fake-function", FAKE_FUNCTION)
        for check in CHECKS:
            name = check.__name__.removeprefix("check_")
            try:
                print(f"ok   {name}: {check(fake, work)}", flush=True)
            except Exception as failure:  # noqa: BLE001 - report every check
                failures += 1
                print(f"FAIL {name}: {type(failure).__name__}: {failure}", flush=True)
    print(f"{len(CHECKS) - failures}/{len(CHECKS)} checks passed in {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
