"""Bad input from Python: each case must fail with an error that names the offending prop, and must
leave nothing behind in the stack."""

import sys
from typing import Callable

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from itc_orchestrator import DatabaseCredentials, ItcOrchestrator, Pipeline, RefreshOptions

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
credentials = DatabaseCredentials.from_secret(secret)

failures: list[str] = []


def expect_error(case: str, build: Callable[[], object], *names: str) -> None:
    """Runs build(), which must raise an error mentioning every one of names and add no construct."""
    children = len(stack.node.children)
    try:
        build()
    except Exception as error:  # noqa: BLE001 - jsii errors surface as several exception types
        message = f"{type(error).__name__}: {error}"
        named = all(name in message for name in names)
        untouched = len(stack.node.children) == children
        ok = named and untouched
        print(("ok   " if ok else "FAIL ") + f"{case}\n     {message.splitlines()[0][:300]}")
        if not named:
            failures.append(f"{case}: the error does not name {names}")
        if not untouched:
            failures.append(f"{case}: a construct was added to the stack")
        return
    print(f"FAIL {case}: no error")
    failures.append(f"{case}: no error")


expect_error(
    "a string where the VPC goes",
    lambda: ItcOrchestrator(stack, "StringVpc", pipelines=pipelines, vpc="vpc-0123456789", credentials=credentials),
    "vpc",
)
expect_error(
    "the required credentials left out",
    lambda: ItcOrchestrator(stack, "NoCredentials", pipelines=pipelines, vpc=vpc),
    "credentials",
)
expect_error(
    "a function where a Pipeline goes",
    lambda: ItcOrchestrator(stack, "FunctionAsPipeline", pipelines=[loader], vpc=vpc, credentials=credentials),
    "pipelines",
)
expect_error(
    "a string where the refresh concurrency number goes",
    lambda: RefreshOptions(concurrency="4"),
    "concurrency",
)

if failures:
    sys.exit("bad_input: " + "; ".join(failures))
