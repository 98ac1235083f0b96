#!/usr/bin/env python3
"""Every relative link and #anchor in README.md and docs/*.md resolves: the file exists and,
for an anchor, one of its headings makes that anchor as GitHub makes them (lower case,
punctuation but hyphens dropped, spaces to hyphens, repeats numbered -1, -2, ...).

Run from the repository root: `python3 scripts/docs/check_links.py`; exits 1 naming each broken
link. `--self-test` checks the anchor rules on known headings and a broken link first."""

import re
import sys
import tempfile
from pathlib import Path

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(text):
    """The lines outside fenced code blocks."""
    inside = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            yield line


def slug(heading):
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # backticks and punctuation go; `_` stays
    return text.replace(" ", "-")


def anchors(path):
    seen = {}
    found = set()
    for line in prose(path.read_text(encoding="utf-8")):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def broken_links(root):
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    problems = []
    for source in files:
        if not source.exists():
            continue
        for line in prose(source.read_text(encoding="utf-8")):
            line = re.sub(r"`[^`]*`", "", line)
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue  # https:, mailto:
                path_part, _, anchor = target.partition("#")
                destination = (source.parent / path_part).resolve() if path_part else source
                if not destination.exists():
                    problems.append(f"{source.relative_to(root)}: {target}: no such file")
                elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                    problems.append(f"{source.relative_to(root)}: {target}: no such heading")
    return problems


def self_test():
    assert slug("Sender IDs, origination numbers and India's DLT") == (
        "sender-ids-origination-numbers-and-indias-dlt")
    assert slug("`POST /fe/users/auth/otp/verify`") == "post-feusersauthotpverify"
    assert slug("Local use: quickstart") == "local-use-quickstart"
    assert slug("`OTP_TTL_SECONDS`") == "otp_ttl_seconds"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "docs").mkdir()
        (root / "docs" / "a.md").write_text("# A\n\n## Same\n\n## Same\n", encoding="utf-8")
        (root / "README.md").write_text(
            "[ok](docs/a.md#same-1) [gone](docs/b.md) [no](docs/a.md#other) [self](#top)\n"
            "```\n[in code](#nowhere)\n```\n# Top\n",
            encoding="utf-8",
        )
        found = broken_links(root)
        assert found == ["README.md: docs/b.md: no such file",
                         "README.md: docs/a.md#other: no such heading"], found


def main():
    if "--self-test" in sys.argv:
        self_test()
    problems = broken_links(Path.cwd())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("every relative link and anchor in README.md and docs/ resolves")


if __name__ == "__main__":
    main()
