"""Writes the one fenced block of an info string (`java`, `go`, `ts fixture=app`) under a `## ` heading of README.md
to a file, for the Java and Go checks to compile it as it is written (and to run the TypeScript twin of it).

With --only, the block must also be the only one of its info string in README.md and docs/*.md: a Java or Go example
in another place would escape the check.

Usage: python readme_block.py [--only] <info string> <section> <file to write>
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


def main() -> None:
    args = sys.argv[1:]
    only = args[:1] == ["--only"]
    if only:
        args = args[1:]
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
    Path(target).write_text(code)


if __name__ == "__main__":
    main()
