"""make bench: the functions' start-up and per-request cost against a bare lambda_http function.

    bench.py --target-dir target/release --moto URL [--cold 15] [--warm 300] [--tls]
             [--json FILE] [--compare FILE]

Each binary runs under the Lambda Runtime API emulator (scripts/harness/lambda_runtime.py) with
the template's environment, against moto behind the fault proxy (which counts the AWS requests
by operation). For each binary: `--cold` fresh processes, each timed from spawn to its first
`/next` (init) and through its first invocation; then one process serves `--warm`
invocations of the happy path, whose latency, CPU time (user + system, from /proc, so
moto's own time is not in it) and peak RSS (VmHWM) are read. Register and resend send real
SMS (to moto) to a fresh number each time; verify checks the code of each. The baseline is
`otp-bench-baseline`, a `lambda_http` hello-world of the same release profile.

With `--tls` the functions also reach moto through the same proxy terminating TLS, with a
certificate from a test CA made for the run and trusted through SSL_CERT_FILE (the variable
the SDK's trust store, rustls-native-certs, reads), so the first invocation pays for TLS
handshakes as in AWS; it is measured with the clients warmed at init and without
(`OTP_WARM_CLIENTS`).

It prints one table and writes the figures as JSON (`--json`); `--compare` prints each
figure's ratio to an earlier JSON run. With `--hot-items N`, N more users (each with its own
Indian mobile, subject and address) register and verify one after another with every guard on,
and the items their writes share give the design's ceiling into one country
(scripts/perf/hot_items.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import jwt

# The Runtime API emulator and the fault proxy are the test harness's, in scripts/harness.
HARNESS = Path(__file__).resolve().parent.parent / "harness"
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(HARNESS))
from lambda_runtime import REGISTER, RESEND, VERIFY, FunctionProcess, apigw_event  # noqa: E402
from hot_items import print_report, report as hot_item_report  # noqa: E402
from load import create_table  # noqa: E402

FUNCTIONS = {"otp-register": REGISTER, "otp-resend": RESEND, "otp-verify": VERIFY}
BASELINE = "otp-bench-baseline"


class Bench:
    """The table, the secret, and the phones of one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.secret = secrets.token_hex(32)
        self.table = f"bench-{secrets.token_hex(4)}"
        self.next_user = 0
        create_table(args.moto, self.table)

    def env(self, endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The template's environment (every guard on), with budgets too large to refuse and a
        breaker that reads and tallies but never judges (its sample minimum is never reached)."""
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "TABLE_NAME": self.table,
            "METRICS_NAMESPACE": "OtpVerify",
            "JWT_SECRET": self.secret,
            "OTP_HASH_KEY": self.secret[::-1],
            "OTP_RESEND_COOLDOWN_SECONDS": "0",
            "OTP_ALLOWED_COUNTRIES": "US,IN",
            "OTP_MAX_SENDS_PER_HOUR": "1000000",
            "OTP_MAX_SENDS_PER_DAY": "1000000",
            "OTP_MAX_SENDS_PER_COUNTRY_PER_HOUR": "1000000",
            "OTP_MAX_SENDS_PER_COUNTRY_PER_DAY": "1000000",
            "OTP_BREAKER_MIN_SENDS": "1000000",
            "OTP_BREAKER_COUNTRY_MIN_SENDS": "1000000",
            **(extra or {}),
        }

    def secrets_in_secrets_manager(self) -> dict[str, str]:
        """The two secrets in moto's Secrets Manager as the template keeps them, each a JSON
        secret of its own (the generated hash key, the JWT secret given as a parameter): the
        `<NAME>_SECRET_ARN` variables that name them."""
        import boto3

        client = boto3.client(
            "secretsmanager", endpoint_url=self.args.moto, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        variables = {}
        for name, value in (("JWT_SECRET", self.secret), ("OTP_HASH_KEY", self.secret[::-1])):
            secret = client.create_secret(Name=f"{self.table}-{name}", SecretString=json.dumps({name: value}))
            variables[f"{name}_SECRET_ARN"] = secret["ARN"]
        return variables

    def user(self) -> tuple[str, str, str]:
        """A fresh (subject, phone, source address)."""
        n = self.next_user
        self.next_user += 1
        return f"bench-{n}", f"+1415555{4000 + n:04d}", f"10.9.{n // 250}.{n % 250 + 1}"

    def token(self, subject: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": subject, "iat": now, "exp": now + 3600}, self.secret, algorithm="HS256")

    def event(self, path: str, subject: str, body: dict, source_ip: str) -> dict:
        return apigw_event("POST", path, body, {"user-jwt-token": self.token(subject)}, source_ip)


def invoke_ok(function: FunctionProcess, event: dict) -> float:
    """Invokes; the answer must be a 200. Returns the invocation's seconds."""
    invocation = function.invoke(event, timeout=30)
    if invocation.error is not None or invocation.body.get("statusCode") != 200:
        raise SystemExit(f"{function.name} answered {invocation.error or invocation.body}")
    return invocation.seconds


def zip_size(binary: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, binary.read_bytes(), zipfile.ZIP_DEFLATED)
    return len(buffer.getvalue())


def proxy(url: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{url}/_proxy/{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


class Workload:
    """What one binary is asked: events for cold starts and warm invocations."""

    def __init__(self, bench: Bench, name: str) -> None:
        self.bench, self.name = bench, name
        self.path = FUNCTIONS.get(name)
        self.prepared: list[dict] = []

    def prepare(self, count: int, helpers: dict[str, FunctionProcess]) -> None:
        """Makes `count` events; verify's need a code each, from a register made beforehand."""
        bench = self.bench
        if self.path is None:
            self.prepared = [apigw_event("GET", "/") for _ in range(count)]
            return
        users = [bench.user() for _ in range(count)]
        if self.path in (REGISTER, RESEND):
            if self.path == RESEND:  # a resend follows a register
                for subject, phone, ip in users:
                    invoke_ok(helpers["otp-register"], bench.event(REGISTER, subject, {"phone_number": phone}, ip))
            self.prepared = [bench.event(self.path, s, {"phone_number": p}, ip) for s, p, ip in users]
            return
        auth_codes = {}
        for subject, phone, ip in users:
            invocation = helpers["otp-register"].invoke(bench.event(REGISTER, subject, {"phone_number": phone}, ip))
            auth_codes[phone] = invocation.http_response()[1]["authCode"]
        sms = proxy(bench.args.proxy, "sms")
        for subject, phone, ip in users:
            code = re.search(r"\b\d{6}\b", sms[phone][-1]).group(0)
            body = {"phone_number": phone, "authCode": auth_codes[phone], "otp": code}
            self.prepared.append(bench.event(VERIFY, subject, body, ip))

    def take(self) -> dict:
        return self.prepared.pop(0)


def hot_item_flows(bench: Bench, target: Path, helpers: dict[str, FunctionProcess], users: int) -> list[list[dict]]:
    """Each of `users` registers and verifies an Indian mobile of a random range (so that the
    breaker's prefix items are shared as a country's ranges share them); per user, the items
    its two requests wrote, from the proxy."""
    import random

    verify = helpers.setdefault("otp-verify", FunctionProcess().start(target / "otp-verify", bench.env(bench.args.proxy)))
    verify.wait_ready()
    flows = []
    for n in range(users):
        subject, phone, ip = f"hot-{n}", f"+919{random.randrange(10**9):09d}", f"10.8.{n // 250}.{n % 250 + 1}"
        proxy(bench.args.proxy, "requests", "DELETE")
        registered = helpers["otp-register"].invoke(bench.event(REGISTER, subject, {"phone_number": phone}, ip))
        status, answer = registered.http_response()
        if status != 200:
            raise SystemExit(f"the hot-item run's register answered {status} {answer}")
        code = re.search(r"\b\d{6}\b", proxy(bench.args.proxy, "sms")[phone][-1]).group(0)
        body = {"phone_number": phone, "authCode": answer["authCode"], "otp": code}
        invoke_ok(verify, bench.event(VERIFY, subject, body, ip))
        flows.append(proxy(bench.args.proxy, "writes"))
    return flows


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def perf_record(pid: int, output: Path) -> subprocess.Popen:
    """`perf record` of process `pid`'s call stacks into `output`, until it is sent SIGINT."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ["perf", "record", "-q", "-F", "4999", "--call-graph", "dwarf,16384", "-p", str(pid), "-o", str(output)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # perf attaches before the first invocation it should see
    return recorder


def measure(
    bench: Bench, binary: Path, workload: Workload, env: dict, helpers: dict, cold: int, warm: int,
    perf_output: Path | None = None,
) -> dict:
    workload.prepare(cold + 1 + warm, helpers)
    inits, firsts = [], []
    for _ in range(cold):
        with FunctionProcess().start(binary, env) as function:
            inits.append(function.wait_ready())
            firsts.append(invoke_ok(function, workload.take()))
    with FunctionProcess().start(binary, env) as function:
        function.wait_ready()
        invoke_ok(function, workload.take())
        if bench.args.proxy:
            proxy(bench.args.proxy, "requests", "DELETE")
        recorder = perf_record(function.pid, perf_output) if perf_output else None
        cpu_before = function.cpu_seconds()
        latencies = [invoke_ok(function, workload.take()) for _ in range(warm)]
        cpu = function.cpu_seconds() - cpu_before
        if recorder:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=120)
        peak_rss_kb = function.peak_rss_kb()
    requests = {}
    if bench.args.proxy and workload.path is not None:
        counts = proxy(bench.args.proxy, "requests")
        requests = {op: round(n / warm, 2) for op, n in sorted(counts.items()) if n}
    return {
        "init_ms": {"p50": statistics.median(inits) * 1000, "min": min(inits) * 1000},
        "first_invoke_ms": statistics.median(firsts) * 1000,
        "cold_total_ms": statistics.median(i + f for i, f in zip(inits, firsts)) * 1000,
        "warm_ms": {"p50": statistics.median(latencies) * 1000, "p99": percentile(latencies, 0.99) * 1000},
        "cpu_per_warm_invoke_us": cpu / warm * 1e6,
        "peak_rss_mb": peak_rss_kb / 1024,
        "binary_mb": binary.stat().st_size / 1e6,
        "zip_mb": zip_size(binary) / 1e6,
        "aws_requests_per_invoke": requests,
    }


def start_proxy(upstream: str, tls: tuple[Path, Path] | None = None) -> tuple[subprocess.Popen, str]:
    """The fault proxy in front of `upstream` on a free port; over TLS with (cert, key)."""
    command = [sys.executable, str(HARNESS / "fault_proxy.py"), "0", upstream]
    command += [str(path) for path in tls or ()]
    # Its stderr is dropped: a function stopped mid-connection is no error of the bench.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("fault proxy on "):
        process.kill()
        raise SystemExit(f"the proxy did not start: {line!r}")
    url = line.removeprefix("fault proxy on ")
    return process, url.replace("127.0.0.1", "localhost") if tls else url


def test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA made for this run and a certificate for localhost it signs: (CA PEM, cert, key)."""
    from datetime import datetime, timedelta, timezone
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otp-verify bench CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return {"cpu": model, "cores": os.cpu_count(), "arch": platform.machine(), "kernel": platform.release()}


def name_width(results: dict) -> int:
    return max(len(name) for name in results)


def print_table(results: dict) -> None:
    width = name_width(results)
    header = (
        f"{'binary':{width}} {'init p50':>9} {'init min':>9} {'1st inv':>8} {'cold tot':>9} {'warm p50':>9} "
        f"{'warm p99':>9} {'CPU/inv us':>10} {'RSS MB':>7} {'bin MB':>7} {'zip MB':>7}  AWS requests per invoke"
    )
    print(header)
    for name, r in results.items():
        requests = ", ".join(f"{op.split(':')[1]} {n:g}" for op, n in r["aws_requests_per_invoke"].items())
        print(
            f"{name:{width}} {r['init_ms']['p50']:9.1f} {r['init_ms']['min']:9.1f} {r['first_invoke_ms']:8.1f} "
            f"{r['cold_total_ms']:9.1f} {r['warm_ms']['p50']:9.2f} {r['warm_ms']['p99']:9.2f} "
            f"{r['cpu_per_warm_invoke_us']:10.0f} {r['peak_rss_mb']:7.1f} {r['binary_mb']:7.2f} {r['zip_mb']:7.2f}  {requests}"
        )


def ratio(figure: float, base: float) -> float | None:
    """`figure / base`, or None when `base` is 0: CPU time is counted in clock ticks, and a
    short run of a small process may not last one."""
    return figure / base if base else None


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def ratios(results: dict) -> dict:
    base = results[BASELINE]
    out = {}
    for name, r in results.items():
        if name == BASELINE or not name.startswith("otp-"):
            continue
        out[name] = {
            "init_p50": ratio(r["init_ms"]["p50"], base["init_ms"]["p50"]),
            "cold_total": ratio(r["cold_total_ms"], base["cold_total_ms"]),
            "cpu_per_warm_invoke": ratio(r["cpu_per_warm_invoke_us"], base["cpu_per_warm_invoke_us"]),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", required=True)
    parser.add_argument("--moto", required=True, help="moto's URL, for the table and the SMS it keeps")
    parser.add_argument("--cold", type=int, default=15, help="cold starts per binary")
    parser.add_argument("--warm", type=int, default=300, help="warm invocations per binary")
    parser.add_argument("--tls", action="store_true", help="also measure the first invocation over TLS")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--compare", help="an earlier --json run to compare with")
    parser.add_argument("--hot-items", type=int, default=0, metavar="USERS",
                        help="also report the items USERS users' sends share, and the ceiling they set")
    parser.add_argument(
        "--perf", help="record each function's warm invocations with `perf record` into DIR/<name>.data "
        "(the figures of such a run include perf's own cost: compare them with nothing)", metavar="DIR",
    )
    args = parser.parse_args()
    target = Path(args.target_dir)
    bench = Bench(args)
    helpers: dict[str, FunctionProcess] = {}
    results: dict[str, dict] = {}
    proxies = []
    scratch = tempfile.TemporaryDirectory()
    try:
        process, args.proxy = start_proxy(args.moto)
        proxies.append(process)
        if args.tls:
            ca, cert, key = test_ca(Path(scratch.name))
            process, args.tls_proxy = start_proxy(args.moto, (cert, key))
            proxies.append(process)
            args.ca_file = str(ca)
        # The helper that makes the codes verify checks sends through the plain proxy, which
        # keeps the SMS it sees; its requests are done before any count is taken.
        helpers["otp-register"] = FunctionProcess().start(target / "otp-register", bench.env(args.proxy))
        helpers["otp-register"].wait_ready()
        runs = [(BASELINE, BASELINE, {})] + [(name, name, bench.env(args.proxy)) for name in FUNCTIONS]
        # The secrets read from Secrets Manager at init, as the template does, not given by value.
        by_reference = bench.env(args.proxy, bench.secrets_in_secrets_manager())
        del by_reference["JWT_SECRET"], by_reference["OTP_HASH_KEY"]
        runs.append(("otp-register (secrets from Secrets Manager)", "otp-register", by_reference))
        if args.tls:
            tls = {"SSL_CERT_FILE": args.ca_file}
            for warmed in ("true", "false"):
                label = "warmed" if warmed == "true" else "not warmed"
                for name in FUNCTIONS:
                    env = bench.env(args.tls_proxy, {**tls, "OTP_WARM_CLIENTS": warmed})
                    runs.append((f"{name} (TLS, {label})", name, env))
        for label, name, env in runs:
            workload = Workload(bench, name)
            extra = "TLS" in label or "Secrets" in label  # what these rows add is in the cold start
            cold = args.cold if not extra else max(args.cold // 3, 1)
            warm = args.warm if not extra else max(args.warm // 10, 1)
            perf_output = Path(args.perf) / f"{name}.data" if args.perf and label == name and label in FUNCTIONS else None
            results[label] = measure(bench, target / name, workload, env, helpers, cold, warm, perf_output)
        flows = hot_item_flows(bench, target, helpers, args.hot_items) if args.hot_items else []
    finally:
        for helper in helpers.values():
            helper.stop()
        for process in proxies:
            process.terminate()
            process.wait()
        scratch.cleanup()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "cold_starts": args.cold,
        "warm_invokes": args.warm,
        "results": results,
        "ratios_to_baseline": ratios(results),
        "hot_items": hot_item_report(flows) if flows else [],
    }
    print(f"{report['machine']['cpu']}, {report['machine']['cores']} cores; {args.cold} cold starts, {args.warm} warm invokes each")
    print_table(results)
    for name, against in report["ratios_to_baseline"].items():
        print(
            f"{name:{name_width(results)}} init {times(against['init_p50'])}, "
            f"cold total {times(against['cold_total'])}, "
            f"CPU per invoke {times(against['cpu_per_warm_invoke'])} the baseline"
        )
    if flows:
        print_report(report["hot_items"], len(flows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.compare:
        earlier = json.loads(Path(args.compare).read_text())["results"]
        for name, r in results.items():
            if name in earlier:
                e = earlier[name]
                print(
                    f"{name:{name_width(results)}} vs earlier: "
                    f"init {times(ratio(r['init_ms']['p50'], e['init_ms']['p50']))}, "
                    f"warm p50 {times(ratio(r['warm_ms']['p50'], e['warm_ms']['p50']))}, "
                    f"CPU {times(ratio(r['cpu_per_warm_invoke_us'], e['cpu_per_warm_invoke_us']))}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
