#!/usr/bin/env bash
# Go smoke test for the Go module.
#
# Builds a Go CDK app as `cdk init app --language go` makes it (test/go/go.mod) on the Go module that
# `npx projen package:go` generated from this checkout (dist/go, through a `replace`): the README's Go Quick start as
# it is in the README, in the stack of quick-start.go.fixture (written to quick-start/main.go), beside
# fargate-iam/main.go. Synthesizes both apps and their TypeScript twins from the sources (test/apps/synth-twins.sh),
# and checks that the templates have the same resources, state machine definition, IAM statements and environment,
# and carry this tree's refresh bundle (test/apps/compare_templates.py). The app is on a newer aws-cdk-go than the
# library's floor (go.mod tells why), so what the newer aws-cdk-lib adds to a template is listed, not failed.
#
# Run it from a built tree: `npx projen package:go && npx projen test:go` (.ci/run does this).
#
# Environment: GOMODCACHE, GOCACHE (Go's module and build caches; the first build of aws-cdk-go takes minutes, a
# cached one seconds) and GOFLAGS, as the go command reads them.
set -euo pipefail
cd "$(dirname "$0")/../.."

here=test/go
out=$here/cdk.out
fail() { echo "test:go: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }

[ -f dist/go/itcorchestrator/go.mod ] || fail "dist/go/itcorchestrator/go.mod is missing; run 'npx projen package:go' first"

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$(node -p 'process.versions.node.split(".")[0]')
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export DISABLE_V8_COMPILE_CACHE=1

rm -rf "$out" $here/bin
python3 test/apps/readme_block.py --only --fixture $here/quick-start.go.fixture go 'Quick start' $here/quick-start/main.go

step "build the Go apps: $(cd $here && go list -m -f '{{.Path}} {{.Version}}' github.com/aws/aws-cdk-go/awscdk/v2), $(go version)"
(cd $here && go vet ./... && go build -o bin/ ./...)
step "synthesize the README's Go Quick start"
CDK_OUTDIR=$PWD/$out/go/quick-start $here/bin/quick-start
step "synthesize the Go Fargate/IAM app"
CDK_OUTDIR=$PWD/$out/go/fargate-iam $here/bin/fargate-iam

step "synthesize the TypeScript twins"
test/apps/synth-twins.sh $out/typescript

step "compare the templates"
python3 test/apps/compare_templates.py --name Go $out/go $out/typescript quick-start:Warehouse fargate-iam:FargateIam:fargate

echo "test:go: all checks passed in ${SECONDS}s"
