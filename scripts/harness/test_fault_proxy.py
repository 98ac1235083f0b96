"""Self-test of fault_proxy.py: `.venv/bin/python scripts/harness/test_fault_proxy.py`.

Starts moto_serial.py and the proxy on free ports, drives them with boto3 (one attempt per
call, so each fault is seen once), prints one line per check, and exits 1 on the first
failure. Stops both servers whatever happens.
"""

import http.client
import json
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

SCRIPTS = Path(__file__).resolve().parent
TABLE = "fault-proxy-test"
PHONE = "+15555550100"


def check(description: str, passed: bool, detail: object = "") -> None:
    """Prints the check's outcome; exits 1 if it failed."""
    if passed:
        print(f"ok   {description}", flush=True)
        return
    print(f"FAIL {description}: {detail}", flush=True)
    sys.exit(1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    """Starts moto_serial.py on a free port; returns it and its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [sys.executable, SCRIPTS / "moto_serial.py", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and moto.poll() is None:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1)
            return moto, url
        except OSError:
            time.sleep(0.1)
    moto.kill()
    sys.exit("moto_serial.py did not start")


def start_proxy(upstream_url: str) -> tuple[subprocess.Popen, str]:
    """Starts fault_proxy.py on a free port; returns it and the URL from its first line."""
    proxy = subprocess.Popen(
        [sys.executable, SCRIPTS / "fault_proxy.py", "0", upstream_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([proxy.stdout], [], [], 10)
    line = proxy.stdout.readline() if ready else ""
    prefix = "fault proxy on "
    if not line.startswith(prefix):
        proxy.kill()
        sys.exit(f"fault_proxy.py did not start: {line!r}")
    return proxy, line[len(prefix):].strip()


def stop(process: subprocess.Popen) -> int:
    """Sends SIGTERM to process and returns its exit status."""
    process.terminate()
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def control(proxy_url: str, method: str, path: str, body: object = None) -> tuple[int, object]:
    """Calls the proxy's control API; returns the status and the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{proxy_url}/_proxy/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def client(service: str, endpoint_url: str, read_timeout: float = 10):
    """A boto3 client for endpoint_url making exactly one attempt per call."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout),
    )


def outcome(call) -> str:
    """`ok`, the error code of a ClientError, or the name of the exception call raised."""
    try:
        call()
        return "ok"
    except ClientError as error:
        return error.response["Error"]["Code"]
    except Exception as error:  # the exception's type is the outcome
        return type(error).__name__


def run_checks(proxy_url: str, moto_url: str) -> None:
    """Every check, in order; exits on the first failure."""
    dynamodb = client("dynamodb", proxy_url)
    moto_dynamodb = client("dynamodb", moto_url)
    sns = client("sns", proxy_url)

    def put(item_id: str, dynamodb_client=dynamodb) -> None:
        dynamodb_client.put_item(TableName=TABLE, Item={"id": {"S": item_id}})

    def get() -> None:
        dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "passed"}})

    def stored(item_id: str) -> bool:
        item = moto_dynamodb.get_item(TableName=TABLE, Key={"id": {"S": item_id}})
        return "Item" in item

    def set_fault(operation: str, fault: str, **options) -> None:
        status, answer = control(
            proxy_url, "POST", "faults", {"operation": operation, "fault": fault, **options}
        )
        check(f"rule {operation} {fault} {options} accepted", status == 200, answer)

    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    put("passed")
    check("create_table and put_item pass through to moto", stored("passed"))

    for fault, code, status in [
        ("throttling", "ThrottlingException", 400),
        ("provisioned_throughput_exceeded", "ProvisionedThroughputExceededException", 400),
        ("internal_server_error", "InternalServerError", 500),
        ("service_unavailable", "ServiceUnavailable", 503),
    ]:
        set_fault("DynamoDB:PutItem", fault)
        try:
            put(fault)
            check(f"{fault} fails put_item", False, "put_item succeeded")
        except ClientError as error:
            seen = (error.response["Error"]["Code"], error.response["ResponseMetadata"])
            check(
                f"{fault} answers {status} {code} with a request id",
                seen[0] == code and seen[1]["HTTPStatusCode"] == status and seen[1]["RequestId"],
                seen,
            )
        check(f"{fault} did not reach moto", not stored(fault))

    set_fault("DynamoDB:PutItem", "reset")
    seen = outcome(lambda: put("reset"))
    check("reset raises a connection error", seen == ConnectionClosedError.__name__, seen)
    check("reset did not reach moto", not stored("reset"))

    set_fault("DynamoDB:PutItem", "delay", delay_seconds=1)
    impatient = client("dynamodb", proxy_url, read_timeout=0.3)
    seen = outcome(lambda: put("delayed", impatient))
    check("delay 1 s with a 0.3 s read timeout times out", seen == ReadTimeoutError.__name__, seen)
    deadline = time.monotonic() + 5
    while not stored("delayed") and time.monotonic() < deadline:
        time.sleep(0.1)
    check("the delayed write is applied after the client gave up", stored("delayed"))

    set_fault("DynamoDB:PutItem", "lost")
    seen = outcome(lambda: put("lost"))
    check("lost raises a connection error", seen == ConnectionClosedError.__name__, seen)
    check("the lost answer's write is applied", stored("lost"))

    status, answer = control(proxy_url, "DELETE", "faults")
    put("cleared")
    check("DELETE /_proxy/faults clears every rule", status == 200 and stored("cleared"), answer)

    control(proxy_url, "DELETE", "requests")
    set_fault("DynamoDB:GetItem", "throttling", share=0.5)
    seen = [outcome(get) for _ in range(6)]
    check("share 0.5 faults every second call", seen == ["ok", "ThrottlingException"] * 3, seen)

    set_fault("DynamoDB:GetItem", "internal_server_error", count=2)
    seen = [outcome(get) for _ in range(4)]
    expected = ["InternalServerError"] * 2 + ["ok"] * 2
    check("count 2 stops after two faults", seen == expected, seen)

    sns.publish(PhoneNumber=PHONE, Message="passes")
    for fault, code in [("throttling", "Throttling"), ("internal_error", "InternalError")]:
        set_fault("SNS:Publish", fault)
        seen = outcome(lambda: sns.publish(PhoneNumber=PHONE, Message=fault))
        check(f"SNS {fault} yields {code}", seen == code, seen)

    client("secretsmanager", proxy_url).list_secrets()
    client("ssm", proxy_url).describe_parameters()
    urllib.request.urlopen(f"{proxy_url}/moto-api/data.json", timeout=5).read()
    expected = {
        "DynamoDB:GetItem": 10,
        "SNS:Publish": 3,
        "SecretsManager:ListSecrets": 1,
        "SSM:DescribeParameters": 1,
        "GET /moto-api/data.json": 1,
    }
    counts = control(proxy_url, "GET", "requests")
    check("requests are counted per operation", counts == (200, expected), counts)
    counts = control(proxy_url, "GET", "faulted")
    expected = {"DynamoDB:GetItem": 5, "SNS:Publish": 2}
    check("faulted calls are counted per operation", counts == (200, expected), counts)
    control(proxy_url, "DELETE", "requests")
    counts = control(proxy_url, "GET", "requests"), control(proxy_url, "GET", "faulted")
    check("DELETE /_proxy/requests resets both counts", counts == ((200, {}), (200, {})), counts)

    # The items written, as the project's table keys them (`pk`), for the hot-item report.
    moto_dynamodb.create_table(
        TableName="writes", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.put_item(TableName="writes", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    dynamodb.update_item(TableName="writes", Key={"pk": {"S": "a"}}, UpdateExpression="ADD n :one",
                         ExpressionAttributeValues={":one": {"N": "1"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "writes", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"ConditionCheck": {"TableName": "writes", "Key": {"pk": {"S": "b"}},
                            "ConditionExpression": "attribute_not_exists(pk)"}},
    ])
    dynamodb.get_item(TableName="writes", Key={"pk": {"S": "a"}})
    expected = [
        {"key": "a", "kind": "single", "writes": 2},
        {"key": "a", "kind": "transaction", "writes": 1},
        {"key": "b", "kind": "transaction", "writes": 1},
    ]
    writes = control(proxy_url, "GET", "writes")
    check("each item written is counted, a transaction's parts as such", writes == (200, expected), writes)
    control(proxy_url, "DELETE", "requests")
    writes = control(proxy_url, "GET", "writes")
    check("DELETE /_proxy/requests resets the items written", writes == (200, []), writes)
    moto_dynamodb.delete_table(TableName="writes")

    for bad_rule in [
        {"operation": "DynamoDB:PutItem", "fault": "meltdown"},
        {"operation": "DynamoDB:PutItem", "fault": "delay"},
        {"operation": "DynamoDB:PutItem", "fault": "throttling", "share": 1.5},
        {"operation": "DynamoDB:PutItem", "fault": "throttling", "count": 0},
        {"operation": "SNS:Publish", "fault": "service_unavailable"},
        {"operation": "DynamoDB:PutItem", "fault": "throttling", "shares": 0.5},
    ]:
        status, answer = control(proxy_url, "POST", "faults", bad_rule)
        check(f"bad rule {bad_rule} gets 400", status == 400 and "error" in answer, answer)

    connection = http.client.HTTPConnection(urllib.parse.urlsplit(proxy_url).netloc, timeout=5)
    answers, sockets = [], []
    for _ in range(2):
        connection.request(
            "POST",
            "/",
            body=iter([b"{", b"}"]),
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/"
                "dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            },
            encode_chunked=True,
        )
        answer = connection.getresponse()
        answers.append((answer.status, json.load(answer).get("TableNames")))
        sockets.append(connection.sock)  # None once the proxy closed the connection
    connection.close()
    check("chunked request bodies are forwarded", answers == [(200, [TABLE])] * 2, answers)
    check("the connection is kept alive", sockets[0] is not None and sockets[0] is sockets[1])


def main() -> int:
    """Runs the checks against fresh servers, then stops them."""
    started = time.monotonic()
    moto, moto_url = start_moto()
    proxy = None
    try:
        proxy, proxy_url = start_proxy(moto_url)
        run_checks(proxy_url, moto_url)
        status = stop(proxy)
        proxy = None
        check("SIGTERM stops the proxy cleanly", status == 0, f"exit status {status}")
    finally:
        if proxy is not None:
            stop(proxy)
        stop(moto)
    print(f"all checks passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
