"""Compares the cloud assemblies of app.py and app.ts, checks that the bundled refresh handler
reached the Python app's cdk.out, and that the package in the wheel ships no demo or test code.

Both apps run the same construct code (the jsii package in the wheel, the sources in TypeScript)
on the same aws-cdk-lib release, so their templates must be identical: same logical ids, same
properties, same state machine definition. Nothing is normalized; an asset hash that differs means
the wheel was built from other handler code than this tree's assets/.
"""

import argparse
import hashlib
import importlib.util
import json
import sys
import tarfile
from pathlib import Path

HANDLER_IN_PACKAGE = "package/assets/engine/refresh.lambda/index.js"
BOOTSTRAP_IN_PACKAGE = "package/assets/task-bootstrap/bootstrap/index.js"
LOCAL_ONLY = ("package/demo/", "package/bench/", "package/test/", "package/.ci/")
RUNTIME_ONLY = ("package/lib/engine/", "package/lib/task-bootstrap/")
SHARED = "package/lib/shared/"

failures: list[str] = []


def check(condition: bool, message: str) -> bool:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)
    return condition


def load_template(assembly: Path, stack: str) -> dict:
    path = assembly / f"{stack}.template.json"
    if not path.is_file():
        sys.exit(f"check_synth: {path} does not exist; did the app synthesize stack {stack}?")
    return json.loads(path.read_text())


def differences(left, right, path="", names=("Python", "TypeScript")) -> list[str]:
    """The JSON paths where two templates differ, each with the differing values (of the apps `names` names)."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                found.append(f"{path}/{key} only in {names[1] if key in right else names[0]}")
            else:
                found += differences(left[key], right[key], f"{path}/{key}", names)
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right)) for d in differences(a, b, f"{path}[{i}]", names)]
    if left == right:
        return []
    if isinstance(left, str) and isinstance(right, str):
        at = next((i for i, (a, b) in enumerate(zip(left, right)) if a != b), min(len(left), len(right)))
        return [f"{path} from character {at}: {names[0]} {left[max(0, at - 40):at + 80]!r} "
                f"!= {names[1]} {right[max(0, at - 40):at + 80]!r}"]
    return [f"{path}: {names[0]} {json.dumps(left)[:200]} != {names[1]} {json.dumps(right)[:200]}"]


def resources_of_type(template: dict, resource_type: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def render_definition(definition) -> dict:
    """Parses a DefinitionString, replacing each CloudFormation expression in it by a placeholder."""
    if isinstance(definition, str):
        return json.loads(definition)
    parts = definition["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def compare_templates(python: dict, typescript: dict, refresh_function: bool = True) -> None:
    py_resources = {k: v["Type"] for k, v in python["Resources"].items()}
    ts_resources = {k: v["Type"] for k, v in typescript["Resources"].items()}
    check(py_resources == ts_resources,
          f"same resources: {len(py_resources)} in Python, {len(ts_resources)} in TypeScript")
    for logical_id in sorted(set(py_resources) ^ set(ts_resources)):
        print(f"     {logical_id} ({py_resources.get(logical_id) or ts_resources.get(logical_id)}) "
              f"only in {'Python' if logical_id in py_resources else 'TypeScript'}")

    py_machines = resources_of_type(python, "AWS::StepFunctions::StateMachine")
    ts_machines = resources_of_type(typescript, "AWS::StepFunctions::StateMachine")
    if check(len(py_machines) == 1 and py_machines.keys() == ts_machines.keys(),
             f"one state machine, same logical id: {sorted(py_machines)} / {sorted(ts_machines)}"):
        logical_id = next(iter(py_machines))
        py_definition = py_machines[logical_id]["Properties"]["DefinitionString"]
        ts_definition = ts_machines[logical_id]["Properties"]["DefinitionString"]
        check(py_definition == ts_definition, "identical state machine definition")
        # The two pipelines given in Python became the two branches of the Parallel state.
        states = render_definition(py_definition)["States"]
        branches = [len(s["Branches"]) for s in states.values() if s["Type"] == "Parallel"]
        check(branches == [2], f"the Parallel state runs the 2 Python pipelines: branches {branches}")
        # refresh.only_changed_tables: the refresh gets the changed tables the state machine gathers; the Fargate
        # task gets them as the event in its container's environment.
        check("Gather the changed tables" in states, "only_changed_tables given in Python gathers the pipelines' changed tables")
        if not refresh_function:
            overrides = [json.dumps(s["Parameters"].get("Overrides", {})) for s in states.values()
                         if s["Type"] == "Task" and "ecs:runTask" in s.get("Resource", "")]
            # Two task states: the refresh, and the one that refreshes everything when ECS refuses the event as too long.
            check(len(overrides) == 2 and all("ITC_REFRESH_EVENT" in o for o in overrides)
                  and "Refresh every materialized view" in states,
                  f"the Fargate twin passes the gathered tables to the task as ITC_REFRESH_EVENT, or why it refreshes every view: {len(overrides)} task states")

    # lineage: the refresh gets the transport naming the API key's secret by ARN, reads that secret, and the state
    # machine names the execution for it.
    computes = [r.get("Properties", {}) for r in python["Resources"].values()
                if r["Type"] in ("AWS::Lambda::Function", "AWS::ECS::TaskDefinition")]
    variables = [json.dumps(v) for p in computes
                 for v in [*p.get("Environment", {}).get("Variables", {}).items(),
                           *[(e["Name"], e["Value"]) for c in p.get("ContainerDefinitions", []) for e in c.get("Environment", [])]]]
    check(any("ITC_LINEAGE_TRANSPORT" in v and "apiKeySecretArn" in v and "LineageApiKey" in v for v in variables)
          and any("ITC_LINEAGE_NAMESPACE" in v and "warehouse" in v for v in variables),
          "lineage given in Python sets the refresh's lineage transport and namespace")
    check(any("LineageApiKey" in json.dumps(p) and "secretsmanager:GetSecretValue" in json.dumps(p)
              for p in resources_of_type(python, "AWS::IAM::Policy").values()),
          "lineage given in Python lets the refresh read the API key's secret")
    check(any("Name the execution for lineage" in json.dumps(m["Properties"]["DefinitionString"]) for m in py_machines.values()),
          "lineage given in Python names the execution for the refresh's lineage events")

    # freshness: the run alarm and the one per listed view, missing data breaching.
    stale = [a["Properties"] for a in resources_of_type(python, "AWS::CloudWatch::Alarm").values()
             if a["Properties"].get("TreatMissingData") == "breaching"]
    check(sorted(a["MetricName"] for a in stale) == ["RunsSucceeded", "ViewRefreshed"],
          f"freshness given in Python makes the freshness alarms: {sorted(a['MetricName'] for a in stale)}")
    if not refresh_function:
        # The task publishes no embedded metrics: metric filters on its log group make them.
        filters = sorted(f["Properties"]["MetricTransformations"][0]["MetricName"]
                         for f in resources_of_type(python, "AWS::Logs::MetricFilter").values())
        check("ViewRefreshed" in filters and "RunsSucceeded" in filters,
              f"the Fargate twin's freshness alarms read metric filters on the task's log: {filters}")

    diffs = differences(python, typescript)
    check(not diffs, f"identical templates ({len(diffs)} differences)")
    for diff in diffs[:20]:
        print(f"     {diff}")


def compare_kinds_templates(python: dict, typescript: dict) -> None:
    """The app without a Lambda pipeline: a Glue job and a nested workflow, identical in both languages."""
    machines = resources_of_type(python, "AWS::StepFunctions::StateMachine")
    orchestrators = [m for m in machines.values() if "Run pipelines" in json.dumps(m["Properties"]["DefinitionString"])]
    if check(len(orchestrators) == 1, f"one orchestrator state machine among {len(machines)}"):
        states = render_definition(orchestrators[0]["Properties"]["DefinitionString"])["States"]
        branches = [b["States"][b["StartAt"]]["Resource"] for s in states.values() if s["Type"] == "Parallel" for b in s["Branches"]]
        check(branches == ["arn:TOKEN:states:::glue:startJobRun.sync", "arn:TOKEN:states:::states:startExecution.sync:2"],
              f"the Glue job and the nested workflow (added with add_pipeline) are the branches: {branches}")
    functions = [f for f in resources_of_type(python, "AWS::Lambda::Function")]
    check(len(functions) == 1, f"the refresh function is the only function: {functions}")
    diffs = differences(python, typescript)
    check(not diffs, f"identical templates ({len(diffs)} differences)")
    for diff in diffs[:20]:
        print(f"     {diff}")


def compare_connection_templates(python: dict, typescript: dict) -> None:
    """The stack with every database factory and authentication: identical, and wired as each asks."""
    diffs = differences(python, typescript)
    check(not diffs, f"identical connection templates ({len(diffs)} differences)")
    for diff in diffs[:20]:
        print(f"     {diff}")

    roles = resources_of_type(python, "AWS::IAM::Role")
    refresh_roles = {k for k, v in roles.items() if "Refreshes materialized views" in v["Properties"].get("Description", "")}
    statements_by_role: dict[str, list] = {role: [] for role in refresh_roles}
    for policy in resources_of_type(python, "AWS::IAM::Policy").values():
        for role in policy["Properties"].get("Roles", []):
            if role.get("Ref") in statements_by_role:
                statements_by_role[role["Ref"]].extend(policy["Properties"]["PolicyDocument"]["Statement"])

    def actions(statements: list) -> list[str]:
        return [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]

    connect = {role: [s for s in statements if s["Action"] == "rds-db:connect"] for role, statements in statements_by_role.items()}
    iam_roles = sorted(role for role, found in connect.items() if found)
    check(len(iam_roles) == 3 and all(len(connect[role]) == 1 and "/refresher" in json.dumps(connect[role][0]["Resource"])
                                      for role in iam_roles),
          f"rds-db:connect as the user refresher, once for each of the 3 IAM orchestrators: {iam_roles}")
    secret_readers = sorted(role for role, statements in statements_by_role.items()
                            if any(a.startswith("secretsmanager:") for a in actions(statements)))
    check(len(secret_readers) == 1 and secret_readers[0].startswith("ClusterSecret"),
          f"only the orchestrator with the cluster's secret reads a secret: {secret_readers}")
    rules = [r for r in resources_of_type(python, "AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"].get("Description") == "Refresh compute to the database"]
    # ClusterSecret passes add_ingress_rule=False: its cluster's security group is left to its owner.
    check(len(rules) == 3, f"an ingress rule from each of the 3 refresh functions that open their database: {len(rules)}")
    from_cluster_secret = [r for r in rules if "ClusterSecret" in json.dumps(r["Properties"].get("SourceSecurityGroupId"))]
    check(not from_cluster_secret, f"add_ingress_rule=False adds no rule from ClusterSecret: {len(from_cluster_secret)}")
    password_logins = [f["Properties"]["Environment"]["Variables"] for f in resources_of_type(python, "AWS::Lambda::Function").values()
                       if "PGPASSWORD" in f["Properties"].get("Environment", {}).get("Variables", {})]
    check([(env["PGUSER"], env["PGPASSWORD"], env["PGSSLMODE"]) for env in password_logins] == [("refresher", "test-only", "require")],
          f"the password orchestrator logs in with its SecretValue and DatabaseTls.REQUIRE as PGSSLMODE: {password_logins}")


def wheel_tarball() -> Path:
    """The jsii package (the npm package, as `npm pack` made it) that the installed wheel carries."""
    spec = importlib.util.find_spec("itc_orchestrator")  # locates without starting the jsii runtime
    tarballs = list(Path(spec.origin).parent.glob("_jsii/*.jsii.tgz"))
    if len(tarballs) != 1:
        sys.exit(f"check_synth: expected one jsii tarball in the installed wheel, found {tarballs}")
    return tarballs[0]


def wheel_file(name: str) -> bytes:
    """A file inside the jsii package that the installed wheel carries."""
    with tarfile.open(wheel_tarball()) as tar:
        return tar.extractfile(name).read()


def wheel_handler() -> bytes:
    """The bundled handler inside the jsii package that the installed wheel carries."""
    return wheel_file(HANDLER_IN_PACKAGE)


def check_published_files() -> None:
    """The demo, the local runner and the tests stay in the repository: neither the npm package nor
    the wheel, which carries that same package, ships them."""
    with tarfile.open(wheel_tarball()) as tar:
        files = tar.getnames()
    local_only = [f for f in files if f.startswith(LOCAL_ONLY)]
    check(not local_only and HANDLER_IN_PACKAGE in files,
          f"the package ships no demo, harness, test or bench code ({len(files)} files): {local_only[:5]}")
    # The engine and the task bootstrap run from their bundles; what the construct shares with them ships compiled.
    runtime_only = [f for f in files if f.startswith(RUNTIME_ONLY)]
    check(not runtime_only and any(f.startswith(SHARED) for f in files),
          f"the package ships no run-time module, and ships src/shared compiled: {runtime_only[:5]}")


def check_handler_asset(assembly: Path, stack: str, template: dict) -> None:
    handler = wheel_handler()
    repo_handler = Path("assets/engine/refresh.lambda/index.js").read_bytes()
    check(handler == repo_handler,
          "the wheel carries this tree's assets/engine/refresh.lambda/index.js "
          f"(sha256 {hashlib.sha256(handler).hexdigest()[:12]}; if not, rebuild the wheel)")

    manifest = json.loads((assembly / f"{stack}.assets.json").read_text())
    handler_assets = [
        asset_hash for asset_hash, asset in manifest.get("files", {}).items()
        if (assembly / asset["source"]["path"] / "index.js").is_file()
        and (assembly / asset["source"]["path"] / "index.js").read_bytes() == handler
    ]
    if not check(len(handler_assets) == 1, f"the bundled handler index.js is in {assembly}: assets {handler_assets}"):
        return
    asset_hash = handler_assets[0]
    functions = [
        logical_id for logical_id, fn in resources_of_type(template, "AWS::Lambda::Function").items()
        if fn["Properties"].get("Code", {}).get("S3Key") == f"{asset_hash}.zip"
    ]
    check(len(functions) == 1, f"one function deploys that asset: {functions}")


def check_task_assets(assembly: Path, stack: str, template: dict) -> None:
    """Fargate mode: the task definition runs the wheel's bootstrap inline and points it at the bundled
    handler, uploaded as a single-file asset."""
    handler = wheel_handler()
    bootstrap = wheel_file(BOOTSTRAP_IN_PACKAGE)
    check(bootstrap == Path("assets/task-bootstrap/bootstrap/index.js").read_bytes(),
          "the wheel carries this tree's assets/task-bootstrap/bootstrap/index.js (if not, rebuild the wheel)")
    task_definitions = list(resources_of_type(template, "AWS::ECS::TaskDefinition").values())
    if not check(len(task_definitions) == 1, f"one task definition: {len(task_definitions)}"):
        return
    [container] = task_definitions[0]["Properties"]["ContainerDefinitions"]
    check(container["EntryPoint"] == ["node", "-e", bootstrap.decode().strip()], "the container runs the bootstrap inline")
    environment = {entry["Name"]: entry["Value"] for entry in container["Environment"]}
    manifest = json.loads((assembly / f"{stack}.assets.json").read_text())
    bundle_keys = [
        destination["objectKey"]
        for asset in manifest.get("files", {}).values()
        if (assembly / asset["source"]["path"]).is_file()
        and (assembly / asset["source"]["path"]).read_bytes() == handler
        for destination in asset["destinations"].values()
    ]
    check(bundle_keys == [environment.get("ITC_BUNDLE_KEY")],
          f"the bootstrap fetches the bundled handler, uploaded as {bundle_keys}: ITC_BUNDLE_KEY={environment.get('ITC_BUNDLE_KEY')}")
    refresh_functions = [
        logical_id for logical_id, fn in resources_of_type(template, "AWS::Lambda::Function").items()
        if "materialized views" in fn["Properties"].get("Description", "")
    ]
    check(not refresh_functions, f"no refresh function: {refresh_functions}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--connections-stack", required=True, help="the stack with every database factory")
    parser.add_argument("--fargate-stack", required=True, help="the stack with the refresh as an ECS Fargate task")
    parser.add_argument("--kinds-stack", required=True, help="the stack with a Glue job and a nested workflow, no Lambda pipeline")
    parser.add_argument("--python", required=True, type=Path, help="cdk.out of app.py")
    parser.add_argument("--typescript", required=True, type=Path, help="cdk.out of app.ts")
    args = parser.parse_args()

    python = load_template(args.python, args.stack)
    typescript = load_template(args.typescript, args.stack)
    compare_templates(python, typescript)
    check_handler_asset(args.python, args.stack, python)
    compare_connection_templates(load_template(args.python, args.connections_stack),
                                 load_template(args.typescript, args.connections_stack))
    print(f"stack {args.fargate_stack}")
    python_fargate = load_template(args.python, args.fargate_stack)
    compare_templates(python_fargate, load_template(args.typescript, args.fargate_stack), refresh_function=False)
    check_task_assets(args.python, args.fargate_stack, python_fargate)
    print(f"stack {args.kinds_stack}")
    compare_kinds_templates(load_template(args.python, args.kinds_stack), load_template(args.typescript, args.kinds_stack))
    check_published_files()

    if failures:
        sys.exit(f"check_synth: {len(failures)} check(s) failed")


if __name__ == "__main__":
    main()
