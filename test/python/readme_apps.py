"""Runs every Python app of README.md as it is written (the Quick start and Usage blocks; the other blocks are
snippets that jsii-rosetta compiles), so the Python code users copy stays real, then checks what each synthesized: a stack with the state machine,
its schedule and the database, and no context lookup, which `cdk synth` could not do without AWS
credentials. (test/unit/readme.test.ts does the same for the TypeScript apps.)

Usage: python readme_apps.py README.md <cdk.out directory>
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

EXPECTED_SECTIONS = ["Quick start", "Usage"]


def python_apps(readme: str) -> list[tuple[str, str]]:
    apps = []
    for section in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", readme, re.S | re.M):
        for block in re.findall(r"^```python\n(.*?)^```", section.group(2), re.S | re.M):
            # A whole app makes its App and synthesizes it; a snippet does not.
            if re.search(r"^app = cdk\.App\(\)$", block, re.M) and re.search(r"^app\.synth\(\)$", block, re.M):
                apps.append((section.group(1), block))
    return apps


def main() -> None:
    readme, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    apps = python_apps(readme.read_text())
    sections = [title for title, _ in apps]
    if sections != EXPECTED_SECTIONS:
        sys.exit(f"readme_apps: expected one Python app in each of {EXPECTED_SECTIONS}, found apps in {sections}")
    for title, code in apps:
        out = outdir / re.sub(r"\W+", "-", title.lower())
        # Each app in a Python process of its own, as `cdk synth` runs it: the jsii runtime reads the environment
        # once. The CDK CLI gives an app without AWS credentials its output directory and no account or region.
        env = {k: v for k, v in os.environ.items() if k not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
        env["CDK_OUTDIR"] = str(out)
        result = subprocess.run([sys.executable, "-c", code], env=env)
        if result.returncode != 0:
            sys.exit(f"readme_apps: the README Python app in '{title}' failed (exit code {result.returncode})")

        templates = list(out.glob("*.template.json"))
        if len(templates) != 1:
            sys.exit(f"readme_apps: {title}: expected one stack template in {out}, found {templates}")
        missing = json.loads((out / "manifest.json").read_text()).get("missing", [])
        if missing:
            sys.exit(f"readme_apps: {title}: synth needs context lookups, which need AWS credentials: {missing}")
        types = [r["Type"] for r in json.loads(templates[0].read_text())["Resources"].values()]
        for expected in ("AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule", "AWS::RDS::DBInstance", "AWS::EC2::SecurityGroupIngress"):
            if expected not in types:
                sys.exit(f"readme_apps: {title}: the app synthesized no {expected}")
        print(f"ok   the README Python app in '{title}' synthesizes {templates[0].name} ({len(types)} resources)")


if __name__ == "__main__":
    main()
