"""Runs every Python example of README.md and docs/*.md as it is written, so the Python code users copy stays real, then checks
what each synthesized: no context lookup, which `cdk synth` could not do without AWS credentials, no error, no
warning about a pipeline in another account or region, and the orchestrator's state machine.

The complete apps (the blocks that make their App and synthesize it) run as they are. Every
other block is a snippet: it runs after a preamble that imports what the jsii-rosetta fixture imports
(rosetta/default.ts-fixture), makes `self` a stack in an app, and defines the names the snippet uses but does not
define, from FIXTURE_VALUES (the values test/package/readme.test.ts gives the TypeScript snippets); the app is then
synthesized. (test/package/readme.test.ts does the same for the TypeScript examples.)

Every fenced block must be one of KNOWN_FENCES, so no Python example can escape the check under another name
(`py`, or no language at all), and the Python blocks must be exactly EXPECTED_APPS and EXPECTED_SNIPPETS.

Usage: python readme_apps.py README.md docs/*.md <cdk.out directory>
"""

import ast
import builtins
import json
import os
import re
import subprocess
import sys
from pathlib import Path

EXPECTED_APPS = ["README.md: Quick start", "docs/configuration.md: A complete app"]
EXPECTED_SNIPPETS = [
    "README.md: Long refreshes #1",
    "README.md: Alarms and freshness #1",
    "docs/configuration.md: Connecting to the database #1",
    "docs/configuration.md: Connecting to the database #2",
    "docs/configuration.md: Connecting to the database #3",
    "docs/lineage.md: Turn it on #1",
    "docs/migrating-from-terraform.md: An orchestrator in place of the module #1",
    "docs/pipelines.md: Kinds of pipeline #1",
]

# The fence info strings a document may use: Python runs here, TypeScript (`ts`) in test/package/readme.test.ts, Java
# and Go (the README's Quick start, their only block) in test/java and test/go, and the others are not code a CDK
# app runs.
KNOWN_FENCES = {"ts", "ts fixture=app", "python", "java", "go", "bash", "sql", "text", "json", "mermaid"}

# What the rosetta fixture imports, plus the structs Python passes where TypeScript writes an object literal.
IMPORTS = """\
from aws_cdk import App, Aws, CfnOutput, Duration, RemovalPolicy, Size, Stack, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from itc_orchestrator import (
    ChangedTables,
    ConcurrentRefresh,
    DatabaseAuthentication,
    DatabaseEndpointOptions,
    FreshnessOptions,
    ItcOrchestrator,
    LineageOptions,
    LineageTransport,
    OrchestratorDatabase,
    OrchestratorSchedule,
    OverlapPolicy,
    Pipeline,
    RefreshCompute,
    RefreshOptions,
)
"""

# The snippet runs where the TypeScript snippet's `this` is the stack.
STACK = 'app = App()\nself = Stack(app, "Readme")\n'

# The names a snippet may use without defining them: the names it needs first, and the code that defines it.
FIXTURE_VALUES: dict[str, tuple[list[str], str]] = {
    "vpc": ([], 'vpc = ec2.Vpc(self, "Vpc", max_azs=2)'),
    "instance": (["vpc"], """\
instance = rds.DatabaseInstance(
    self,
    "Database",
    engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16),
    vpc=vpc,
    credentials=rds.Credentials.from_generated_secret("itc"),
    storage_encrypted=True,
)"""),
    "cluster": (["vpc"], """\
cluster = rds.DatabaseCluster(
    self,
    "Cluster",
    engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_4),
    writer=rds.ClusterInstance.serverless_v2("Writer"),
    vpc=vpc,
    credentials=rds.Credentials.from_generated_secret("itc"),
)"""),
    "proxy": (["vpc", "instance"], 'proxy = instance.add_proxy("Proxy", vpc=vpc, secrets=[instance.secret], iam_auth=True)'),
    "secret": ([], """\
secret = secretsmanager.Secret(
    self,
    "Secret",
    generate_secret_string=secretsmanager.SecretStringGenerator(
        secret_string_template=json.dumps({"username": "refresher"}), generate_string_key="password"
    ),
)"""),
    "demand": ([], """\
demand = lambda_.Function(
    self,
    "DemandLoader",
    runtime=lambda_.Runtime.NODEJS_22_X,
    handler="index.handler",
    code=lambda_.Code.from_inline("exports.handler = async () => ({ loaded: true });"),
)"""),
    # Functions in the stack's account and region.
    "pipelines": ([], """\
pipelines = [
    Pipeline.from_function_arn(name, f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{name.lower()}-loader")
    for name in ("Demand", "Supply")
]"""),
    "alerts": ([], 'alerts = sns.Topic(self, "Alerts")'),
}


def fenced_blocks(document: str, text: str) -> list[tuple[str, str, str]]:
    """The fenced blocks of a Markdown text: (info string, code, the `## ` section it is in). Refuses a block whose
    info string is not in KNOWN_FENCES, so an example cannot escape the check."""
    blocks: list[tuple[str, str, str]] = []
    section, info, lines = "", None, []
    for line in text.split("\n"):
        if info is not None:
            if line == "```":
                blocks.append((info, "".join(code + "\n" for code in lines), section))
                info, lines = None, []
            else:
                lines.append(line)
        elif line.startswith("```"):
            info = line[3:].strip()
            if info not in KNOWN_FENCES:
                sys.exit(
                    f"readme_apps: {document} has a ```{info} block, which no test runs: mark Python ```python "
                    f"(known: {', '.join(sorted(KNOWN_FENCES))})"
                )
        elif line.startswith("## "):
            section = line[3:]
    if info is not None:
        sys.exit(f"readme_apps: {document} has a ```{info} block that is never closed")
    return blocks


def readme_blocks(document: str, text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The Python blocks, named after the document and their section: the complete apps, and the snippets numbered
    in each section."""
    apps, snippets = [], []
    numbers: dict[str, int] = {}
    for info, block, section in fenced_blocks(document, text):
        if info != "python":
            continue
        title = f"{document}: {section}"
        # A whole app makes its App and synthesizes it; a snippet does not.
        if re.search(r"^app = (cdk\.)?App\(\)$", block, re.M) and re.search(r"^app\.synth\(\)$", block, re.M):
            apps.append((title, block))
        else:
            numbers[title] = numbers.get(title, 0) + 1
            snippets.append((f"{title} #{numbers[title]}", block))
    return apps, snippets


def defined_names(code: str) -> set[str]:
    tree = ast.parse(code)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))}
    names |= {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    names |= {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    names |= {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments) for arg in node.args + node.kwonlyargs}
    return names


def used_names(code: str) -> list[str]:
    tree = ast.parse(code)
    return list(dict.fromkeys(node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)))


def snippet_program(title: str, code: str) -> str:
    """The snippet as printed, after the preamble that defines what it uses, then the app's synthesis."""
    known = defined_names(IMPORTS + STACK + code) | set(dir(builtins))
    needed = [name for name in used_names(code) if name not in known]
    unknown = [name for name in needed if name not in FIXTURE_VALUES]
    if unknown:
        sys.exit(
            f"readme_apps: the README Python snippet in '{title}' uses {', '.join(unknown)}, which neither the snippet "
            f"nor the fixture defines (fixture values: {', '.join(FIXTURE_VALUES)})"
        )
    ordered: list[str] = []

    def add(name: str) -> None:
        if name not in ordered:
            for dependency in FIXTURE_VALUES[name][0]:
                add(dependency)
            ordered.append(name)

    for name in needed:
        add(name)
    values = "".join(FIXTURE_VALUES[name][1] + "\n" for name in ordered)
    return f"import json\n{IMPORTS}\n{STACK}{values}\n{code}\napp.synth()\n"


def synthesize(kind: str, title: str, program: str, out: Path) -> list[str]:
    """Runs a program in a Python process of its own, as `cdk synth` runs an app (the jsii runtime reads the
    environment once), checks the cloud assembly and returns the resource types of its one stack."""
    # The CDK CLI gives an app without AWS credentials its output directory and no account or region.
    env = {k: v for k, v in os.environ.items() if k not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
    env["CDK_OUTDIR"] = str(out)
    result = subprocess.run([sys.executable, "-c", program], env=env)
    if result.returncode != 0:
        sys.exit(f"readme_apps: the README Python {kind} in '{title}' failed (exit code {result.returncode})")

    manifest = json.loads((out / "manifest.json").read_text())
    stacks = [artifact for artifact in manifest["artifacts"].values() if artifact["type"] == "aws:cloudformation:stack"]
    if len(stacks) != 1:
        sys.exit(f"readme_apps: {title}: expected one stack in {out}, found {len(stacks)}")
    missing = manifest.get("missing", [])
    if missing:
        sys.exit(f"readme_apps: {title}: synth needs context lookups, which need AWS credentials: {missing}")
    messages = [
        f"{entry['type']}: {entry['data']}"
        for entries in stacks[0].get("metadata", {}).values()
        for entry in entries
        if entry["type"] in ("aws:cdk:error", "aws:cdk:warning")
    ]
    errors = [message for message in messages if message.startswith("aws:cdk:error")]
    if errors:
        sys.exit(f"readme_apps: {title}: synth reported errors: {errors}")
    # Its pipelines are where the stack is: no warning about a function in another account or region.
    pipeline_warnings = [message for message in messages if 'Pipeline "' in message]
    if pipeline_warnings:
        sys.exit(f"readme_apps: {title}: synth warned about pipelines: {pipeline_warnings}")
    template = out / stacks[0]["properties"]["templateFile"]
    return [resource["Type"] for resource in json.loads(template.read_text())["Resources"].values()]


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: readme_apps.py README.md docs/*.md <cdk.out directory>")
    documents, outdir = sys.argv[1:-1], Path(sys.argv[-1])
    apps, snippets = [], []
    for document in documents:
        document_apps, document_snippets = readme_blocks(document, Path(document).read_text())
        apps += document_apps
        snippets += document_snippets
    sections = [title for title, _ in apps]
    if sections != EXPECTED_APPS:
        sys.exit(f"readme_apps: expected one Python app in each of {EXPECTED_APPS}, found apps in {sections} (documents: {documents})")
    titles = [title for title, _ in snippets]
    if titles != EXPECTED_SNIPPETS:
        sys.exit(f"readme_apps: expected the Python snippets {EXPECTED_SNIPPETS}, found {titles}")

    for title, code in apps:
        types = synthesize("app", title, code, outdir / re.sub(r"\W+", "-", title.lower()))
        for expected in ("AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule", "AWS::RDS::DBInstance", "AWS::EC2::SecurityGroupIngress"):
            if expected not in types:
                sys.exit(f"readme_apps: {title}: the app synthesized no {expected}")
        print(f"ok   the README Python app in '{title}' synthesizes ({len(types)} resources)")

    for title, code in snippets:
        types = synthesize("snippet", title, snippet_program(title, code), outdir / re.sub(r"\W+", "-", title.lower()).strip("-"))
        if re.search(r"\bItcOrchestrator\(", code) and "AWS::StepFunctions::StateMachine" not in types:
            sys.exit(f"readme_apps: {title}: the snippet synthesized no AWS::StepFunctions::StateMachine")
        print(f"ok   the README Python snippet in '{title}' synthesizes in the fixture stack ({len(types)} resources)")


if __name__ == "__main__":
    main()
