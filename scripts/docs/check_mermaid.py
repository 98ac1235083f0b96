#!/usr/bin/env python3
"""Every ```mermaid block in README.md and docs/*.md has a known diagram type on its first line,
brackets and double quotes balanced on each line, and each line in a form of its type
(flowchart edges `A --> B`, `A -->|label| B`, `A --- B` between [A-Za-z0-9_]+ ids;
sequenceDiagram participants, `->>`/`-->>` messages, notes, blocks; stateDiagram-v2
transitions, states, notes). Not a Mermaid parser: it catches the slips that stop a render.

Run from the repository root; exits 1 with file:line per problem. `--self-test` first checks
that the good blocks below pass and the bad ones are reported. `--mmdc PATH` then parses and
renders every block with the Mermaid CLI (in Debian's Chromium, as
`scripts/docs/mermaid/puppeteer.json` says), and fails on any block it cannot draw;
`make test-docs` installs it."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ID = r"[A-Za-z0-9_]+"
TEXT = r'(?:"[^"]*"|[^"\[\](){}|]*)'  # a label: quoted, or free of brackets and pipes
SHAPE = (rf"(?:\[\[{TEXT}\]\]|\[\({TEXT}\)\]|\(\[{TEXT}\]\)|\(\({TEXT}\)\)"
         rf"|\[{TEXT}\]|\({TEXT}\)|\{{{TEXT}\}})")  # [a] (a) {a} [[a]] [(a)] ([a]) ((a))
NODE = rf"{ID}{SHAPE}?"
FLOW = [rf"{NODE}", rf"{NODE}\s*(?:-->|---)(?:\|{TEXT}\|)?\s*{NODE}",
        r"subgraph\s+.+", r"end", r"direction\s+(?:TB|TD|BT|RL|LR)",
        r"(?:classDef|class|style|linkStyle)\s+.+"]
SEQUENCE = [rf"(?:participant|actor)\s+(?P<declared>{ID})(?:\s+as\s+.+)?",
            rf"(?P<source>{ID})\s*-?->>\s*(?P<target>{ID})\s*:.*",
            rf"Note\s+(?:left of|right of|over)\s+(?P<noted>{ID}(?:\s*,\s*{ID})?)\s*:.*",
            r"(?P<open>loop|alt|opt)(?:\s+.*)?", r"(?P<else>else)(?:\s+.*)?", r"(?P<close>end)",
            r"autonumber"]
STATE = rf"(?:{ID}|\[\*\])"
STATES = [rf"{STATE}\s*-->\s*{STATE}(?:\s*:.*)?", rf'state\s+(?:"[^"]*"\s+as\s+)?{ID}',
          rf"state\s+{ID}\s*\{{", r"\}", rf"{ID}\s*:.*", r"direction\s+(?:TB|TD|BT|RL|LR)",
          rf"note\s+(?:left|right)\s+of\s+{ID}\s*:.*", rf"note\s+(?:left|right)\s+of\s+{ID}",
          r"end note"]
PAIRS = {")": "(", "]": "[", "}": "{"}


def balanced(line):
    """Brackets nest and close, double quotes pair, outside quoted text for the brackets."""
    stack, quoted = [], False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            stack.append(char)
        elif not quoted and char in PAIRS and (not stack or stack.pop() != PAIRS[char]):
            return False
    return not stack and not quoted


def check_block(lines):
    """Problems of one block, as (index of the line in the block, message)."""
    problems = []
    first = lines[0].strip() if lines else ""
    flow = re.fullmatch(r"(?:flowchart|graph)\s+(?:TB|TD|BT|RL|LR)", first)
    forms = FLOW if flow else {"sequenceDiagram": SEQUENCE, "stateDiagram-v2": STATES}.get(first)
    if forms is None:
        return [(0, f"not a known diagram type: {first!r}")]
    declared, used, blocks, in_note = set(), [], [], False
    for index, raw in enumerate(lines[1:], start=1):
        line = raw.strip()
        if in_note or not line or line.startswith("%%"):  # a multi-line note's text, a comment
            in_note = in_note and line != "end note"
            continue
        # A composite state's braces open and close on different lines.
        composite = forms is STATES and re.fullmatch(r"state\s+\S+\s*\{|\}", line)
        if not composite and not balanced(line):
            problems.append((index, f"unbalanced brackets or quotes: {line}"))
            continue
        match = next((m for form in forms if (m := re.fullmatch(form, line))), None)
        if not match:
            problems.append((index, f"not a {first.split()[0]} line: {line}"))
            continue
        if forms is STATES and re.fullmatch(rf"note\s+(?:left|right)\s+of\s+{ID}", line):
            in_note = True
        groups = {k: v for k, v in match.groupdict().items() if v}
        declared.update([groups["declared"]] if "declared" in groups else [])
        for name in ("source", "target", "noted"):
            used += [(index, n.strip()) for n in groups.get(name, "").split(",") if n.strip()]
        if "open" in groups:
            blocks.append(groups["open"])
        elif "else" in groups and (not blocks or blocks[-1] != "alt"):
            problems.append((index, "else outside an alt block"))
        elif "close" in groups and not blocks:
            problems.append((index, "end without a block to close"))
        elif "close" in groups:
            blocks.pop()
    if declared:
        problems += [(i, f"undeclared participant {n}") for i, n in used if n not in declared]
    if blocks or in_note:
        problems.append((len(lines) - 1, f"unclosed {'note' if in_note else blocks[-1]}"))
    return problems


def blocks_of(text):
    """Each mermaid block as (line number of its first line in the file, its lines)."""
    found, current, start = [], None, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if current is None and line.strip() == "```mermaid":
            current, start = [], number + 1
        elif current is not None and line.strip().startswith("```"):
            found.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        found.append((start, current + ["```mermaid block never closed"]))
    return found


def problems_in(root):
    problems = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if path.exists():
            for start, lines in blocks_of(path.read_text(encoding="utf-8")):
                for index, message in check_block(lines):
                    problems.append(f"{path.relative_to(root)}:{start + index}: {message}")
    return problems


GOOD = ['flowchart LR\n  a["Apps (web)"] -->|"HTTPS"| b[API]\n  b --- c[(Table)]\n  c',
        "sequenceDiagram\n  participant A as the app\n  actor B\n  A->>B: hello (there)\n"
        "  alt ok\n    B-->>A: fine\n  else not\n    Note over A, B: no\n  end\n  autonumber",
        "stateDiagram-v2\n  [*] --> Closed\n  Closed --> Open: a trip\n  state Open {\n"
        "  Open : paused\n  }\n  note right of Open\n    free text (with [brackets\n  end note"]
BAD = ["pie title Pets", "flowchart\n  a --> b", "flowchart LR\n  a -> b",
       "flowchart LR\n  a[label --> b", 'flowchart LR\n  a["label] --> b',
       "flowchart LR\n  a[x (y)] --> b", "flowchart LR\n  my-node --> b",
       "sequenceDiagram\n  A->B: wrong arrow", "sequenceDiagram\n  loop forever\n  A->>B: x",
       "sequenceDiagram\n  participant A\n  A->>C: typo", "sequenceDiagram\n  else x",
       "stateDiagram-v2\n  A -> B", "stateDiagram-v2\n  note left of A\n  never ended"]


def self_test():
    for block in GOOD:
        assert not check_block(block.split("\n")), (block, check_block(block.split("\n")))
    for block in BAD:
        assert check_block(block.split("\n")), f"not reported: {block!r}"


def rendered(mmdc, root, lines):
    """None when the Mermaid CLI draws `lines`, else what it said."""
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "block.mmd", Path(work) / "block.svg"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = root / "scripts" / "docs" / "mermaid" / "puppeteer.json"
        run = subprocess.run([mmdc, "--quiet", "-p", str(config), "-i", str(source), "-o", str(target)],
                             capture_output=True, text=True, timeout=120)
        if run.returncode == 0 and target.exists() and target.stat().st_size > 0:
            return None
        return (run.stderr or run.stdout).strip().splitlines()[0] if (run.stderr or run.stdout) else "no output"


def render_all(mmdc, root):
    problems, count = [], 0
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for start, lines in blocks_of(path.read_text(encoding="utf-8")):
            count += 1
            said = rendered(mmdc, root, lines)
            if said:
                problems.append(f"{path.relative_to(root)}:{start}: the Mermaid CLI cannot draw it: {said}")
    return problems, count


def main():
    root = Path.cwd()
    if "--self-test" in sys.argv:
        self_test()
        print(f"self-test: {len(GOOD)} good blocks pass, {len(BAD)} bad ones are reported")
    problems = problems_in(root)
    if problems:
        sys.exit("\n".join(problems))
    print("every mermaid block in README.md and docs/ has a known structure")
    if "--mmdc" in sys.argv:
        mmdc = sys.argv[sys.argv.index("--mmdc") + 1]
        if rendered(mmdc, root, BAD[3].split("\n")) is None:
            sys.exit("the Mermaid CLI drew a block it should refuse: it is not checking")
        problems, count = render_all(mmdc, root)
        if problems:
            sys.exit("\n".join(problems))
        print(f"the Mermaid CLI draws all {count} blocks (and refuses a broken one)")


if __name__ == "__main__":
    main()
