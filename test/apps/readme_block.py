"""Writes the one fenced block of an info string (`java`, `go`, `ts fixture=app`) under a `## ` heading of README.md
to a file, for the Java and Go checks to compile it as it is written (and to run the TypeScript twin of it).

With --only, the block must also be the only one of its info string in README.md and docs/*.md: a Java or Go example
in another place would escape the check. With --fixture, the block goes into the app the fixture file holds: its
leading imports (`import ...;` lines in Java, `import (...)` in Go) where the fixture has the line `// README: imports`,
the rest where it has `// README: orchestrator`, indented as that line is.

Usage: python readme_block.py [--only] [--fixture <file>] <info string> <section> <file to write>
"""

import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(document: Path, info: str) -> list[tuple[str, str]]:
    """(section, code) of each block of a document with that info string."""
    text = document.read_text()
    found = []
    for match in FENCE.finditer(text):
        if match.group(1).strip() == info:
            headings = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)
            found.append((headings[-1] if headings else "", match.group(2)))
    return found


def split_imports(code: str) -> tuple[str, str]:
    """The leading import declarations of a Java or Go block, and the rest."""
    lines = code.splitlines(keepends=True)
    end = 0
    in_group = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_group:
            in_group = stripped != ")"
        elif stripped == "import (":
            in_group = True
        elif not (stripped.startswith("import ") or stripped == ""):
            break
        end = i + 1
    return "".join(lines[:end]).strip() + "\n", "".join(lines[end:]).strip() + "\n"


def into_fixture(fixture: Path, code: str) -> str:
    imports, body = split_imports(code)
    text = fixture.read_text()
    for marker, part in (("// README: imports", imports), ("// README: orchestrator", body)):
        match = re.search(rf"^([ \t]*){re.escape(marker)}$", text, re.MULTILINE)
        if not match:
            sys.exit(f"readme_block: {fixture} has no line {marker!r}")
        indented = "".join(match.group(1) + line if line.strip() else line for line in part.splitlines(keepends=True))
        text = text[: match.start()] + indented.rstrip("\n") + text[match.end():]
    return text


def main() -> None:
    args = sys.argv[1:]
    only = args[:1] == ["--only"]
    if only:
        args = args[1:]
    fixture = None
    if args[:1] == ["--fixture"] and len(args) > 1:
        fixture, args = Path(args[1]), args[2:]
    if len(args) != 3:
        sys.exit(__doc__)
    info, section, target = args
    documents = [Path("README.md"), *sorted(Path("docs").glob("*.md"))] if only else [Path("README.md")]
    found = [(f"{document}: {heading}", code) for document in documents for heading, code in blocks(document, info)]
    expected = f"README.md: {section}"
    titles = [title for title, _ in found]
    if (titles != [expected]) if only else (titles.count(expected) != 1):
        sys.exit(f"readme_block: expected one ```{info} block in {expected}{' and none elsewhere' if only else ''}; found {titles}")
    code = next(code for title, code in found if title == expected)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(into_fixture(fixture, code) if fixture else code)


if __name__ == "__main__":
    main()
