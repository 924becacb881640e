// The refresh as an ECS Fargate task that logs in to the instance with IAM database authentication: the Go twin of
// test/apps/fargate-iam.ts.
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/jsii-runtime-go"
	"github.com/itc-orchestrator/itc-orchestrator-go/itcorchestrator"
)

func main() {
	defer jsii.Close()

	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("FargateIam"), nil)

	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2)})
	database := awsrds.NewDatabaseInstance(stack, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		Engine: awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
			Version: awsrds.PostgresEngineVersion_VER_16(),
		}),
		Vpc:               vpc,
		Credentials:       awsrds.Credentials_FromGeneratedSecret(jsii.String("itc"), nil),
		StorageEncrypted:  jsii.Bool(true),
		DatabaseName:      jsii.String("warehouse"),
		IamAuthentication: jsii.Bool(true),
	})
	demandLoader := awslambda.NewFunction(stack, jsii.String("DemandLoader"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(),
		Handler: jsii.String("index.handler"),
		Code:    awslambda.Code_FromInline(jsii.String("exports.handler = async () => ({ loaded: true });")),
	})

	itcorchestrator.NewItcOrchestrator(stack, jsii.String("Orchestrator"), &itcorchestrator.ItcOrchestratorProps{
		Pipelines: &[]itcorchestrator.Pipeline{itcorchestrator.Pipeline_FromFunction(jsii.String("Demand"), demandLoader, nil)},
		Vpc:       vpc,
		Database: itcorchestrator.OrchestratorDatabase_FromInstance(database, &itcorchestrator.DatabaseOptions{
			DatabaseName:   jsii.String("warehouse"),
			Authentication: itcorchestrator.DatabaseAuthentication_FromIam(jsii.String("refresher")),
		}),
		Refresh: &itcorchestrator.RefreshOptions{Schemas: jsii.Strings("reporting"), OnlyChangedTables: jsii.Bool(true)},
		RefreshCompute: itcorchestrator.RefreshCompute_Fargate(&itcorchestrator.FargateRefreshComputeOptions{
			RunTimeout:     awscdk.Duration_Hours(jsii.Number(3)),
			Cpu:            jsii.Number(256),
			MemoryLimitMiB: jsii.Number(512),
		}),
	})

	app.Synth(nil)
}
