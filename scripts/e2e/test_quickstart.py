"""Runs the README's quickstart as pasted, against a fresh otp-local.

`test_quickstart.py --binary PATH_TO_OTP_LOCAL`. Every ```sh block of the README's
"## Quickstart" section runs in one `sh -e`, as a reader pasting them into one terminal
would, with `make run`'s server already up. Only the port is changed (to a free one) and the
state directory is a fresh one. It fails when a command fails, when the verification does not
succeed, or when an answer's fields differ from the ones the `# {...}` comments show.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTED_PORT = "127.0.0.1:3000"


def quickstart(readme):
    section = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)
    if not blocks:
        raise SystemExit("test_quickstart: the README's Quickstart has no ```sh block")
    return "\n".join(blocks)


def shapes(text):
    """The JSON values in `text`, one after another (curl prints no newline after its own)."""
    decoder, values, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        values.append(value)
    return values


def keys(value):
    if isinstance(value, list):
        return ("list", keys(value[0]) if value else None)
    return tuple(sorted(value)) if isinstance(value, dict) else type(value).__name__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    script = quickstart((ROOT / "README.md").read_text())
    documented = [json.loads(line[2:]) for line in script.splitlines() if re.match(r"# [\[{]", line)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "OTP_LOCAL_STATE_DIR": state}
        env.pop("JWT_SECRET", None)
        server = subprocess.Popen([args.binary, "--port", str(port)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            first = server.stdout.readline()
            if "listening on" not in first:
                raise SystemExit(f"test_quickstart: otp-local did not start: {first!r}")
            subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
            run = subprocess.run(["sh", "-e", "-c", script.replace(DOCUMENTED_PORT, f"127.0.0.1:{port}")],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        finally:
            server.terminate()
            server.wait()
    if run.returncode != 0:
        raise SystemExit(f"test_quickstart: the quickstart failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    answers = shapes(run.stdout)
    if [keys(value) for value in answers] != [keys(value) for value in documented]:
        raise SystemExit(f"test_quickstart: the answers are not shaped as the README shows:\n"
                         f"  README: {[keys(v) for v in documented]}\n  actual: {[keys(v) for v in answers]}")
    if answers[-1].get("message") != "Phone number verified successfully":
        raise SystemExit(f"test_quickstart: the quickstart did not verify: {answers[-1]}")
    print(f"the README's quickstart runs as pasted: {len(answers)} answers shaped as documented, verified")


if __name__ == "__main__":
    sys.exit(main())
