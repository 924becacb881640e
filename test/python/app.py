"""A Python CDK app using the itc-orchestrator wheel: two pipelines, a VPC, a PostgreSQL database with
its generated secret, and an hourly schedule.

The smoke test (smoke-test.sh) synthesizes it and compares the template with that of app.ts, its
TypeScript twin: keep the two apps the same construct for construct.
"""

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from itc_orchestrator import (
    ChangedTables,
    ConcurrentRefresh,
    DatabaseAuthentication,
    DatabaseEndpointOptions,
    DatabaseTls,
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

STACK_NAME = "ItcOrchestratorSmoke"
CONNECTIONS_STACK_NAME = "ItcOrchestratorSmokeConnections"
FARGATE_STACK_NAME = "ItcOrchestratorSmokeFargate"
KINDS_STACK_NAME = "ItcOrchestratorSmokeKinds"


class OrchestratorStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, refresh_compute: RefreshCompute | None = None) -> None:
        super().__init__(scope, construct_id)

        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1)
        self.vpc = vpc
        database = rds.DatabaseInstance(
            self,
            "Database",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            credentials=rds.Credentials.from_generated_secret("itc"),
            database_name="warehouse",
            iam_authentication=True,
        )
        self.database = database

        # One pipeline defined in this app, one deployed elsewhere and referenced by ARN.
        demand = lambda_.Function(
            self,
            "DemandLoader",
            runtime=lambda_.Runtime.NODEJS_22_X,
            handler="index.handler",
            code=lambda_.Code.from_inline("exports.handler = async (event) => ({ loaded: 'demand', event });"),
        )
        supply_arn = self.format_arn(
            service="lambda",
            resource="function",
            resource_name="supply-loader",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

        ItcOrchestrator(
            self,
            "Orchestrator",
            pipelines=[
                Pipeline.from_function("Demand", demand),
                Pipeline.from_function_arn("Supply", supply_arn),
            ],
            vpc=vpc,
            database=OrchestratorDatabase.from_instance(database, database_name="warehouse"),
            refresh=RefreshOptions(
                schemas=["analytics"],
                concurrency=4,
                concurrent_refresh=ConcurrentRefresh.AUTO,
                overlap_policy=OverlapPolicy.SKIP,
                statement_timeout=cdk.Duration.minutes(10),
                run_lock_wait_timeout=cdk.Duration.minutes(2),
                view_lock_timeout=cdk.Duration.seconds(30),
                only_changed_tables=True,
            ),
            schedule=OrchestratorSchedule(
                expression=scheduler.ScheduleExpression.cron(minute="15", hour="*"),
                input=scheduler.ScheduleTargetInput.from_object({"scheduledTime": scheduler.ContextAttribute.scheduled_time}),
            ),
            alarm_actions=[cloudwatch_actions.SnsAction(sns.Topic(self, "Alarms"))],
            dashboard=True,
            # A customer-managed key, the roles and the state machine's log group of the platform team.
            encryption_key=kms.Key(self, "Key", enable_key_rotation=True),
            state_machine_role=iam.Role(self, "StateMachineRole", assumed_by=iam.ServicePrincipal("states.amazonaws.com")),
            refresh_role=iam.Role(
                self,
                "RefreshRole",
                assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com" if refresh_compute else "lambda.amazonaws.com"),
            ),
            state_machine_log_group=logs.LogGroup(self, "StateMachineLogs", log_group_name=f"/aws/vendedlogs/states/{construct_id}"),
            refresh_compute=refresh_compute,
            # Per-view freshness alarms: on the function's embedded metrics, or on metric filters of the task's log.
            freshness=FreshnessOptions(max_age=cdk.Duration.hours(26), views=["analytics.daily_totals"]),
            # OpenLineage events to Marquez, with an API key the refresh reads from Secrets Manager.
            lineage=LineageOptions(
                transport=LineageTransport.http(
                    url="https://marquez.example.internal",
                    api_key=secretsmanager.Secret(self, "LineageApiKey"),
                ),
                namespace="warehouse",
                time_budget=cdk.Duration.seconds(3),
            ),
        )


class ConnectionsStack(cdk.Stack):
    """Every factory and authentication: the instance of the other stack with IAM (a cross-stack reference
    without a dependency cycle), a cluster with its secret, a proxy with IAM, an endpoint with IAM, and an
    endpoint with a password and TLS without verification."""

    def __init__(self, scope: Construct, construct_id: str, vpc: ec2.IVpc, instance: rds.IDatabaseInstance) -> None:
        super().__init__(scope, construct_id)

        pipelines = [
            Pipeline.from_function_arn(
                "Demand",
                self.format_arn(
                    service="lambda",
                    resource="function",
                    resource_name="demand-loader",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
        ]
        cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_16_4),
            vpc=vpc,
            writer=rds.ClusterInstance.serverless_v2("Writer"),
            iam_authentication=True,
        )
        proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_cluster(cluster),
            secrets=[cluster.secret],
            vpc=vpc,
            iam_auth=True,
        )
        external_group = ec2.SecurityGroup(self, "ExternalDatabaseGroup", vpc=vpc)
        iam = DatabaseAuthentication.from_iam("refresher")

        ItcOrchestrator(
            self,
            "InstanceIam",
            pipelines=pipelines,
            vpc=vpc,
            database=OrchestratorDatabase.from_instance(instance, database_name="warehouse", authentication=iam),
        )
        # The cluster's security group is left to its owner.
        ItcOrchestrator(
            self,
            "ClusterSecret",
            pipelines=pipelines,
            vpc=vpc,
            database=OrchestratorDatabase.from_cluster(cluster, add_ingress_rule=False),
        )
        ItcOrchestrator(
            self, "ProxyIam", pipelines=pipelines, vpc=vpc, database=OrchestratorDatabase.from_proxy(proxy, authentication=iam)
        )
        ItcOrchestrator(
            self,
            "EndpointIam",
            pipelines=pipelines,
            vpc=vpc,
            database=OrchestratorDatabase.from_endpoint(
                DatabaseEndpointOptions(
                    host="warehouse.example.internal",
                    port=6432,
                    security_groups=[external_group],
                    resource_id="db-ABCDEFGHIJKLMNOP",
                ),
                database_name="warehouse",
                authentication=iam,
            ),
        )
        ItcOrchestrator(
            self,
            "EndpointPassword",
            pipelines=pipelines,
            vpc=vpc,
            database=OrchestratorDatabase.from_endpoint(
                DatabaseEndpointOptions(host="warehouse.example.internal"),
                database_name="warehouse",
                authentication=DatabaseAuthentication.from_password("refresher", cdk.SecretValue.unsafe_plain_text("test-only")),
                tls=DatabaseTls.REQUIRE,
            ),
        )


class PipelineKindsStack(cdk.Stack):
    """No Lambda pipeline: a Glue job with its fixed tables, and a nested workflow added after construction."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=0)
        load = sfn.StateMachine(
            self,
            "LoadWorkflow",
            definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(self, "Load", result=sfn.Result.from_object({"changedTables": []}))),
        )
        orchestrator = ItcOrchestrator(
            self,
            "Orchestrator",
            vpc=vpc,
            database=OrchestratorDatabase.from_endpoint(
                DatabaseEndpointOptions(host="warehouse.example.internal"),
                database_name="warehouse",
                authentication=DatabaseAuthentication.from_password("refresher", cdk.SecretValue.unsafe_plain_text("test-only")),
            ),
            refresh=RefreshOptions(only_changed_tables=True),
            pipelines=[Pipeline.from_glue_job("Orders", "load-orders", changed_tables=ChangedTables.of(["sales.orders"]))],
        )
        orchestrator.add_pipeline(Pipeline.from_state_machine("Load", load))


app = cdk.App(analytics_reporting=False)
main = OrchestratorStack(app, STACK_NAME)
ConnectionsStack(app, CONNECTIONS_STACK_NAME, main.vpc, main.database)
# The same app with the refresh as an ECS Fargate task.
OrchestratorStack(
    app,
    FARGATE_STACK_NAME,
    refresh_compute=RefreshCompute.fargate(
        run_timeout=cdk.Duration.hours(2),
        heartbeat_timeout=cdk.Duration.minutes(3),
        cpu=512,
        memory_limit_mib=1024,
    ),
)
PipelineKindsStack(app, KINDS_STACK_NAME)
app.synth()
