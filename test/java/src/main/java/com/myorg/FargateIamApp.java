package com.myorg;

import dev.itcorchestrator.DatabaseAuthentication;
import dev.itcorchestrator.DatabaseOptions;
import dev.itcorchestrator.FargateRefreshComputeOptions;
import dev.itcorchestrator.ItcOrchestrator;
import dev.itcorchestrator.OrchestratorDatabase;
import dev.itcorchestrator.Pipeline;
import dev.itcorchestrator.RefreshCompute;
import dev.itcorchestrator.RefreshOptions;
import java.util.List;
import software.amazon.awscdk.App;
import software.amazon.awscdk.Duration;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.services.ec2.Vpc;
import software.amazon.awscdk.services.lambda.Code;
import software.amazon.awscdk.services.lambda.Function;
import software.amazon.awscdk.services.lambda.Runtime;
import software.amazon.awscdk.services.rds.Credentials;
import software.amazon.awscdk.services.rds.DatabaseInstance;
import software.amazon.awscdk.services.rds.DatabaseInstanceEngine;
import software.amazon.awscdk.services.rds.PostgresEngineVersion;
import software.amazon.awscdk.services.rds.PostgresInstanceEngineProps;

/**
 * The refresh as an ECS Fargate task that logs in to the instance with IAM database authentication: the Java twin
 * of test/apps/fargate-iam.ts.
 */
public final class FargateIamApp {
    public static void main(final String[] args) {
        App app = new App();
        Stack stack = new Stack(app, "FargateIam");

        Vpc vpc = Vpc.Builder.create(stack, "Vpc").maxAzs(2).build();
        DatabaseInstance database = DatabaseInstance.Builder.create(stack, "Database")
                .engine(DatabaseInstanceEngine.postgres(PostgresInstanceEngineProps.builder()
                        .version(PostgresEngineVersion.VER_16)
                        .build()))
                .vpc(vpc)
                .credentials(Credentials.fromGeneratedSecret("itc"))
                .storageEncrypted(true)
                .databaseName("warehouse")
                .iamAuthentication(true)
                .build();
        Function demandLoader = Function.Builder.create(stack, "DemandLoader")
                .runtime(Runtime.NODEJS_22_X)
                .handler("index.handler")
                .code(Code.fromInline("exports.handler = async () => ({ loaded: true });"))
                .build();

        ItcOrchestrator.Builder.create(stack, "Orchestrator")
                .pipelines(List.of(Pipeline.fromFunction("Demand", demandLoader)))
                .vpc(vpc)
                .database(OrchestratorDatabase.fromInstance(database, DatabaseOptions.builder()
                        .databaseName("warehouse")
                        .authentication(DatabaseAuthentication.fromIam("refresher"))
                        .build()))
                .refresh(RefreshOptions.builder().schemas(List.of("reporting")).onlyChangedTables(true).build())
                .refreshCompute(RefreshCompute.fargate(FargateRefreshComputeOptions.builder()
                        .runTimeout(Duration.hours(3))
                        .cpu(256)
                        .memoryLimitMiB(512)
                        .build()))
                .build();

        app.synth();
    }
}
