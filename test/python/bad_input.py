"""Bad input from Python: each case must fail with an error that names the offending prop, and must
leave nothing behind in the stack. Type errors are caught by the jsii Python runtime (or by the jsii
kernel for interfaces); value errors by the construct's own validation, passed through to Python."""

import re
import sys
from typing import Callable

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from itc_orchestrator import (
    DatabaseAuthentication,
    DatabaseEndpointOptions,
    DatabaseTls,
    FreshnessOptions,
    ItcOrchestrator,
    OrchestratorDatabase,
    Pipeline,
    RefreshOptions,
)

stack = cdk.Stack(cdk.App(), "BadInput")
vpc = ec2.Vpc(stack, "Vpc")
secret = secretsmanager.Secret(stack, "Secret")
loader = lambda_.Function(
    stack,
    "Loader",
    runtime=lambda_.Runtime.NODEJS_22_X,
    handler="index.handler",
    code=lambda_.Code.from_inline("exports.handler = async () => ({});"),
)
pipelines = [Pipeline.from_function("Demand", loader)]
database = OrchestratorDatabase.from_endpoint(DatabaseEndpointOptions(host="db.internal"), authentication=DatabaseAuthentication.from_secret(secret))

failures: list[str] = []


def constructs_outside(construct_id: str) -> list[str]:
    """The paths of every construct in the stack but the one named construct_id and its children."""
    return [c.node.path for c in stack.node.find_all() if not c.node.path.startswith(f"BadInput/{construct_id}")]


def expect_error(case: str, construct_id: str, build: Callable[[], object], names_prop: str) -> None:
    """Runs build(), which must raise an error matching the regex names_prop and leave the stack as it
    was. A construct that rejects its props after joining the tree stays there as an empty node."""
    before = constructs_outside(construct_id)
    try:
        build()
    except Exception as error:  # noqa: BLE001 - jsii errors surface as TypeError or RuntimeError
        message = f"{type(error).__name__}: {error}"
        naming_line = next((line for line in message.splitlines() if re.search(names_prop, line)), None)
        failed = stack.node.try_find_child(construct_id)
        untouched = constructs_outside(construct_id) == before and (failed is None or not failed.node.children)
        print(("ok   " if naming_line and untouched else "FAIL ") + case)
        print("     " + (naming_line or message).strip()[:300])
        if not naming_line:
            failures.append(f"{case}: the error does not match {names_prop!r}")
        if not untouched:
            failures.append(f"{case}: constructs were added to the stack")
        return
    print(f"FAIL {case}: no error")
    failures.append(f"{case}: no error")


expect_error(
    "a string where the VPC goes",
    "StringVpc",
    lambda: ItcOrchestrator(stack, "StringVpc", pipelines=pipelines, vpc="vpc-0123456789", database=database),
    r"Key 'vpc': Unable to deserialize value as aws-cdk-lib.aws_ec2.IVpc",
)
expect_error(
    "the required database left out",
    "NoDatabase",
    lambda: ItcOrchestrator(stack, "NoDatabase", pipelines=pipelines, vpc=vpc),
    r"missing 1 required keyword-only argument: 'database'",
)
expect_error(
    "IAM authentication with an empty user name (the factory's own validation)",
    "-",
    lambda: DatabaseAuthentication.from_iam(""),
    r"DatabaseAuthentication.fromIam: `username` must not be empty",
)
expect_error(
    "an endpoint without a host (the factory's own validation)",
    "-",
    lambda: OrchestratorDatabase.from_endpoint(DatabaseEndpointOptions(host=""), authentication=DatabaseAuthentication.from_secret(secret)),
    r"OrchestratorDatabase.fromEndpoint: `host` must be",
)
expect_error(
    "IAM authentication without full TLS verification (the database's own validation)",
    "-",
    lambda: OrchestratorDatabase.from_endpoint(
        DatabaseEndpointOptions(host="db.internal", resource_id="db-ABCDEFGHIJKL"),
        authentication=DatabaseAuthentication.from_iam("refresher"),
        tls=DatabaseTls.REQUIRE,
    ),
    r"OrchestratorDatabase.fromEndpoint: `tls` must be DatabaseTls.VERIFY_FULL with DatabaseAuthentication.fromIam: .*got DatabaseTls.REQUIRE",
)
expect_error(
    "a plain string where the password's SecretValue goes",
    "-",
    lambda: DatabaseAuthentication.from_password("refresher", "pw"),
    r"argument password must be aws_cdk.SecretValue",
)
expect_error(
    "a function where a Pipeline goes",
    "FunctionAsPipeline",
    lambda: ItcOrchestrator(stack, "FunctionAsPipeline", pipelines=[loader], vpc=vpc, database=database),
    r"argument pipelines.* must be .*itc_orchestrator\.Pipeline",
)
expect_error(
    "a string where the refresh concurrency number goes",
    "-",
    lambda: RefreshOptions(concurrency="4"),
    r"argument concurrency must be",
)
expect_error(
    "two pipelines of one name (the construct's own validation; no pipelines at all is a refresh-only schedule)",
    "TwinPipelines",
    lambda: ItcOrchestrator(stack, "TwinPipelines", vpc=vpc, database=database,
                            pipelines=[Pipeline.from_function("Load", loader), Pipeline.from_function("load", loader)]),
    r"`pipelines` must have unique names \(ignoring case\), got \"load\" twice",
)
expect_error(
    "a freshness maxAge CloudWatch alarms cannot evaluate (the construct's own validation)",
    "FreshnessTooLong",
    lambda: ItcOrchestrator(
        stack, "FreshnessTooLong", pipelines=pipelines, vpc=vpc, database=database,
        freshness=FreshnessOptions(max_age=cdk.Duration.days(8)),
    ),
    r"`freshness.maxAge` must be a whole number of minutes from 1 minute to 7 days .*, got 8 days",
)

if failures:
    sys.exit("bad_input: " + "; ".join(failures))
