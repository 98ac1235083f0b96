"""A bounded load run: the real register and verify functions, several instances of each
under the Lambda Runtime API emulator (scripts/harness/lambda_runtime.py), against moto
serving one request at a time, driven in parallel with a share of hostile traffic.

    load.py --target-dir target/release --moto http://127.0.0.1:PORT [--processes 8] [--users 200]

Two phases, each driven by many threads at once:
1. sends: every user registers its own phone; one hot phone is asked for by many users;
   some requests carry tokens signed with a foreign key;
2. checks: every user verifies, half of them after a wrong code first; one brute-forcing
   user fires many wrong codes at once at its own code, then the right one.

It fails (exit 1) on any 5xx or any limit that did not hold exactly: the hot phone gets
exactly OTP_MAX_SENDS_PER_PHONE_PER_HOUR SMS, the brute-forced code exactly
OTP_MAX_ATTEMPTS compared guesses, every honest user verifies, every foreign token gets
401. It prints the throughput and p50/p99 latency per endpoint.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "harness"))
from lambda_runtime import REGISTER, VERIFY, Pool, apigw_event  # noqa: E402

PHONE_CAP = 5
MAX_ATTEMPTS = 5
HOT_PHONE = "+14155550999"


class Run:
    """The functions, the table and the figures of one load run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.secret = secrets.token_hex(32)
        self.table = f"load-{secrets.token_hex(4)}"
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.failures: list[str] = []
        self.phase_seconds: dict[str, float] = {}
        create_table(args.moto, self.table)
        env = {
            "AWS_ENDPOINT_URL": args.moto,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_LOG_LEVEL": "WARN",
            "TABLE_NAME": self.table,
            "JWT_SECRET": self.secret,
            "OTP_HASH_KEY": secrets.token_hex(32),
            "OTP_RESEND_COOLDOWN_SECONDS": "0",
            "OTP_MAX_SENDS_PER_PHONE_PER_HOUR": str(PHONE_CAP),
            "OTP_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            # Every send comes before every verification here, which no real traffic does:
            # enforced, the breaker would pause +1 41555 after its first 20 sends (that is
            # tested in breaker_campaign). Monitor mode keeps its reads and tallies in the
            # measured path without refusing.
            "OTP_BREAKER_MODE": "monitor",
        }
        target = Path(args.target_dir)
        self.register = Pool(target / "otp-register", args.processes, env).start()
        self.verify = Pool(target / "otp-verify", args.processes, env).start()

    def stop(self) -> None:
        self.register.stop()
        self.verify.stop()

    def token(self, subject: str, secret: str | None = None) -> str:
        now = int(time.time())
        claims = {"sub": subject, "iat": now, "exp": now + 3600}
        return jwt.encode(claims, secret or self.secret, algorithm="HS256")

    def call(self, endpoint: str, token: str, body: dict, source_ip: str) -> tuple[int, dict]:
        pool = self.register if endpoint == REGISTER else self.verify
        event = apigw_event("POST", endpoint, body, {"user-jwt-token": token}, source_ip)
        invocation = pool.invoke(event, timeout=30)
        status, answer = invocation.http_response()
        name = "register" if endpoint == REGISTER else "verify"
        self.latencies[name].append(invocation.seconds)
        self.statuses[name][status] += 1
        if status >= 500:
            self.failures.append(f"{name} answered {status}: {answer}")
        return status, answer or {}

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)


def create_table(moto: str, table: str) -> None:
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=moto, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )


def sent_sms(moto: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{moto}/moto-api/data.json", timeout=30) as response:
        data = json.load(response)
    by_phone: dict[str, list[str]] = defaultdict(list)
    for sms in data.get("sns", {}).get("SMS", []):
        by_phone[sms["phone_number"]].append(sms["message"])
    return by_phone


def phone_of(user: int) -> str:
    return f"+1415555{user:04d}"


def code_in(body: str) -> str:
    return re.search(r"\b\d{6}\b", body).group(0)


def wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def run_phase(run: Run, name: str, jobs: list) -> list:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=run.args.processes * 4) as executor:
        results = list(executor.map(lambda job: job(), jobs))
    run.phase_seconds[name] = time.perf_counter() - start
    return results


def sends(run: Run) -> dict[int, str]:
    users = run.args.users
    hot_askers = max(PHONE_CAP * 3, users // 10)
    jobs = [
        (lambda u=u: ("user", u, run.call(REGISTER, run.token(f"user-{u}"), {"phone_number": phone_of(u)}, f"10.0.{u // 250}.{u % 250 + 1}")))
        for u in range(users)
    ]
    jobs += [
        (lambda h=h: ("hot", h, run.call(REGISTER, run.token(f"hot-{h}"), {"phone_number": HOT_PHONE}, f"10.1.0.{h % 250 + 1}")))
        for h in range(hot_askers)
    ]
    foreign = secrets.token_hex(32)
    jobs += [
        (lambda f=f: ("foreign", f, run.call(REGISTER, run.token(f"user-{f}", foreign), {"phone_number": phone_of(f)}, "10.2.0.1")))
        for f in range(users // 10)
    ]
    auth_codes: dict[int, str] = {}
    hot_sent = 0
    for kind, who, (status, answer) in run_phase(run, "sends", jobs):
        if kind == "user":
            run.check(status == 200, f"user {who}'s register answered {status}: {answer}")
            auth_codes[who] = answer.get("authCode", "")
        elif kind == "hot":
            run.check(status in (200, 429), f"the hot phone's register answered {status}")
            hot_sent += status == 200
        else:
            run.check(status == 401 and answer.get("code") == "UN_AUTHORIZED", f"a foreign token got {status}")
    sms = sent_sms(run.args.moto)
    run.check(hot_sent == PHONE_CAP, f"the hot phone's cap let {hot_sent} sends through, not {PHONE_CAP}")
    run.check(len(sms[HOT_PHONE]) == PHONE_CAP, f"the hot phone got {len(sms[HOT_PHONE])} SMS, not {PHONE_CAP}")
    return auth_codes


def checks(run: Run, auth_codes: dict[int, str]) -> None:
    sms = sent_sms(run.args.moto)
    brute = 0
    jobs = []
    for user, auth_code in auth_codes.items():
        if user == brute:
            continue
        code = code_in(sms[phone_of(user)][-1])
        token = run.token(f"user-{user}")

        def honest(user=user, auth_code=auth_code, code=code, token=token):
            body = {"phone_number": phone_of(user), "authCode": auth_code}
            if user % 2:
                status, _ = run.call(VERIFY, token, {**body, "otp": wrong(code)}, "10.3.0.1")
                run.check(status == 401, f"user {user}'s wrong code answered {status}")
            status, answer = run.call(VERIFY, token, {**body, "otp": code}, "10.3.0.1")
            run.check(status == 200, f"user {user}'s right code answered {status}: {answer}")
            return ("honest", status)

        jobs.append(honest)
    brute_code = code_in(sms[phone_of(brute)][-1])
    brute_body = {"phone_number": phone_of(brute), "authCode": auth_codes[brute]}
    brute_token = run.token(f"user-{brute}")
    guesses = [f"{(int(brute_code) + n) % 1_000_000:06d}" for n in range(1, MAX_ATTEMPTS * 6)]
    jobs += [
        (lambda guess=guess: ("guess", run.call(VERIFY, brute_token, {**brute_body, "otp": guess}, "10.4.0.1")))
        for guess in guesses
    ]
    results = run_phase(run, "checks", jobs)
    guesses_answered = Counter(answer.get("code") for kind, (status, answer) in (r for r in results if r[0] == "guess"))
    run.check(
        guesses_answered["INVALID_OTP"] == MAX_ATTEMPTS,
        f"the brute-forced code compared {guesses_answered['INVALID_OTP']} guesses, not {MAX_ATTEMPTS}: {dict(guesses_answered)}",
    )
    status, answer = run.call(VERIFY, brute_token, {**brute_body, "otp": brute_code}, "10.4.0.1")
    run.check(answer.get("code") == "TOO_MANY_ATTEMPTS", f"after the guesses the right code got {status} {answer}")


def report(run: Run) -> None:
    print(f"{'endpoint':10} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}  statuses")
    for name, phase in (("register", "sends"), ("verify", "checks")):
        latencies = sorted(run.latencies[name])
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        rate = len(latencies) / run.phase_seconds[phase]
        statuses = dict(sorted(run.statuses[name].items()))
        print(
            f"{name:10} {len(latencies):9d} {rate:7.1f} {statistics.median(latencies) * 1000:7.1f}"
            f" {p99 * 1000:7.1f}  {statuses}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", required=True, help="where the otp-register and otp-verify binaries are")
    parser.add_argument("--moto", required=True, help="moto's URL")
    parser.add_argument("--processes", type=int, default=8, help="instances of each function")
    parser.add_argument("--users", type=int, default=200, help="honest users, each with a phone")
    args = parser.parse_args()
    run = Run(args)
    try:
        auth_codes = sends(run)
        checks(run, auth_codes)
    finally:
        run.stop()
    report(run)
    for failure in run.failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("load run: " + ("FAILED" if run.failures else "every limit held, no 5xx"))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
