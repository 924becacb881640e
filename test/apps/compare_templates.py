"""Compares the templates a Java or Go app synthesized with those of their TypeScript twins (built from the sources).

For each stack: the same resources (logical id and type), the same state machine definition (so the same states, in
the same shape), the same IAM statements (every policy's statements, every role's principals and managed policies),
the same environment (every function's variables, every container's entry point and environment), and the refresh
bundle from the package in the app's cloud assembly, identical to this tree's assets/. With --identical (an app on
the aws-cdk-lib release the twin runs on) the templates must be identical as a whole; otherwise (a Go app, which needs
a newer aws-cdk-go than the library's floor) what else differs is listed, as what the newer aws-cdk-lib adds.

Usage: python compare_templates.py [--identical] --name Java <app cdk.out> <twin cdk.out> <stack>[:fargate] ...
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from check_synth import check, differences, failures, load_template, render_definition, resources_of_type  # noqa: E402

REFRESH_BUNDLE = Path("assets/engine/refresh.lambda/index.js")


def by_type(template: dict, resource_type: str, key) -> dict:
    return {logical_id: key(resource["Properties"]) for logical_id, resource in resources_of_type(template, resource_type).items()}


def state_shape(definition) -> dict:
    """Each state's type and where it goes, nested states included."""
    def shape(states: dict) -> dict:
        return {name: [state["Type"], state.get("Next") or state.get("Default") or state.get("End"),
                       [shape(branch["States"]) for branch in state.get("Branches", [])]]
                for name, state in states.items()}
    return shape(render_definition(definition)["States"])


def compare_stack(name: str, app: dict, twin: dict, fargate: bool, identical: bool) -> None:
    names = (name, "TypeScript")
    app_resources = {k: v["Type"] for k, v in app["Resources"].items()}
    twin_resources = {k: v["Type"] for k, v in twin["Resources"].items()}
    check(app_resources == twin_resources, f"same resources: {len(app_resources)} in {name}, {len(twin_resources)} in TypeScript")
    for logical_id in sorted(set(app_resources) ^ set(twin_resources)):
        print(f"     {logical_id} only in {name if logical_id in app_resources else 'TypeScript'}")

    machines = by_type(app, "AWS::StepFunctions::StateMachine", lambda p: p["DefinitionString"])
    twin_machines = by_type(twin, "AWS::StepFunctions::StateMachine", lambda p: p["DefinitionString"])
    if check(len(machines) == 1 and machines.keys() == twin_machines.keys(), f"one state machine, same logical id: {sorted(machines)}"):
        [(logical_id, definition)] = machines.items()
        shape = state_shape(definition)
        check(shape == state_shape(twin_machines[logical_id]), f"same states in the same shape: {len(shape)} states")
        check(definition == twin_machines[logical_id], "identical state machine definition")
        states = render_definition(definition)["States"]
        task_resources = [s.get("Resource", "") for s in states.values() if s["Type"] == "Task"]
        refresh_tasks = [r for r in task_resources if "ecs:runTask" in r]
        check(bool(refresh_tasks) == fargate, f"the refresh runs as {'an ECS task' if fargate else 'a Lambda function'}: {task_resources}")

    statements = lambda p: p["PolicyDocument"]["Statement"]  # noqa: E731
    policies = by_type(app, "AWS::IAM::Policy", statements)
    check(policies == by_type(twin, "AWS::IAM::Policy", statements),
          f"same IAM policy statements: {sum(len(s) for s in policies.values())} statements in {len(policies)} policies")
    role = lambda p: ([s["Principal"] for s in p["AssumeRolePolicyDocument"]["Statement"]], p.get("ManagedPolicyArns"))  # noqa: E731
    roles = by_type(app, "AWS::IAM::Role", role)
    check(roles == by_type(twin, "AWS::IAM::Role", role), f"same principals and managed policies for the {len(roles)} roles")
    if fargate:
        connects = [s for policy in policies.values() for s in policy if s["Action"] == "rds-db:connect"]
        check(len(connects) == 1 and "dbuser:" in json.dumps(connects[0]["Resource"]) and "/refresher" in json.dumps(connects[0]["Resource"]),
              f"the refresh task connects with IAM as the user refresher: {json.dumps(connects)[:200]}")

    variables = lambda p: p.get("Environment", {}).get("Variables")  # noqa: E731
    functions = by_type(app, "AWS::Lambda::Function", variables)
    check(functions == by_type(twin, "AWS::Lambda::Function", variables), f"same environment for the {len(functions)} functions")
    containers = lambda p: [(c.get("EntryPoint"), c.get("Environment")) for c in p["ContainerDefinitions"]]  # noqa: E731
    tasks = by_type(app, "AWS::ECS::TaskDefinition", containers)
    check(tasks == by_type(twin, "AWS::ECS::TaskDefinition", containers) and len(tasks) == (1 if fargate else 0),
          f"same entry point and environment for the containers of the {len(tasks)} task definitions")

    diffs = differences(app, twin, names=names)
    if identical:
        check(not diffs, f"identical templates ({len(diffs)} differences)")
    elif diffs:
        print(f"note {len(diffs)} differences in all: those the checks above name, and what the newer aws-cdk-lib of the {name} app adds")
    for diff in diffs[:20]:
        print(f"     {diff}")


def check_bundle(assembly: Path, stack: str) -> None:
    """The refresh bundle the package carries reached the app's cloud assembly as an asset, as this tree built it."""
    bundle = REFRESH_BUNDLE.read_bytes()
    manifest = json.loads((assembly / f"{stack}.assets.json").read_text())
    sources = [assembly / asset["source"]["path"] for asset in manifest.get("files", {}).values()]
    found = [s for s in sources if (s / "index.js" if s.is_dir() else s).is_file() and (s / "index.js" if s.is_dir() else s).read_bytes() == bundle]
    check(len(found) == 1, f"the package's refresh bundle, identical to {REFRESH_BUNDLE}, is an asset of {stack}: {[s.name for s in found]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the app's language, as the report names it")
    parser.add_argument("--identical", action="store_true", help="the templates must be identical as a whole")
    parser.add_argument("app", type=Path, help="the cloud assemblies of the app, one folder per stack")
    parser.add_argument("twin", type=Path, help="the cloud assemblies of the TypeScript twins, one folder per stack")
    parser.add_argument("stacks", nargs="+", help="folder:stack, with :fargate when the refresh runs as an ECS task")
    args = parser.parse_args()
    for spec in args.stacks:
        folder, stack, *kind = spec.split(":")
        print(f"stack {stack} ({folder})")
        compare_stack(args.name, load_template(args.app / folder, stack), load_template(args.twin / folder, stack),
                      fargate=kind == ["fargate"], identical=args.identical)
        check_bundle(args.app / folder, stack)
    if failures:
        sys.exit(f"compare_templates: {len(failures)} check(s) failed")


if __name__ == "__main__":
    main()
