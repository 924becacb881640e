"""Runs the Python quick start of README.md as it is written, so the Python snippet users copy stays
real code, then checks what it synthesized. (The TypeScript snippets are compiled by jsii-rosetta.)

Usage: python readme_quick_start.py README.md <cdk.out directory>
"""

import json
import os
import re
import sys
from pathlib import Path


def quick_start_snippet(readme: str) -> str:
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme + "\n## ", re.S | re.M)
    if not section:
        sys.exit("readme_quick_start: README.md has no '## Quick start' section")
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    if len(blocks) != 1:
        sys.exit(f"readme_quick_start: expected one python block in the quick start, found {len(blocks)}")
    return blocks[0]


def main() -> None:
    readme, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    snippet = quick_start_snippet(readme.read_text())
    os.environ["CDK_OUTDIR"] = str(outdir)
    exec(compile(snippet, f"{readme}#quick-start", "exec"), {"__name__": "__main__"})

    templates = list(outdir.glob("*.template.json"))
    if len(templates) != 1:
        sys.exit(f"readme_quick_start: expected one stack template in {outdir}, found {templates}")
    types = [r["Type"] for r in json.loads(templates[0].read_text())["Resources"].values()]
    for expected in ("AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule", "AWS::RDS::DBInstance", "AWS::EC2::SecurityGroupIngress"):
        if expected not in types:
            sys.exit(f"readme_quick_start: the quick start synthesized no {expected}")
    print(f"ok   the README Python quick start synthesizes {templates[0].name} ({len(types)} resources)")


if __name__ == "__main__":
    main()
