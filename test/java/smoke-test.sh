#!/usr/bin/env bash
# Java smoke test for the Maven package.
#
# Builds a Java CDK app as `cdk init app --language java` makes it (test/java/pom.xml) on the Maven package that
# `npx projen package:java` built from this checkout (dist/java): the README's Java Quick start as it is in the README,
# in the stack of WarehouseApp.java.fixture, beside FargateIamApp.java. Synthesizes both apps and their TypeScript
# twins from the sources (test/apps/synth-twins.sh), and checks that the templates are identical and carry this
# tree's refresh bundle (test/apps/compare_templates.py). The app uses the aws-cdk-lib release the twins run on.
#
# Run it from a built tree: `npx projen package:java && npx projen test:java` (.ci/run does this).
#
# Environment:
#   MAVEN_OPTS  `-Dmaven.repo.local=<folder>` keeps Maven's downloads (aws-cdk-lib is about 80 MB) in that folder
#               between runs (default: Maven's own, ~/.m2/repository)
set -euo pipefail
cd "$(dirname "$0")/../.."

here=test/java
out=$here/cdk.out
fail() { echo "test:java: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }

version=$(node -p "require('./package.json').version")
[ -f "dist/java/dev/itc-orchestrator/itc-orchestrator/$version/itc-orchestrator-$version.jar" ] ||
  fail "dist/java holds no itc-orchestrator $version jar; run 'npx projen package:java' first"
dev_version() { node -p "require('./package.json').devDependencies['$1'].replace(/^[\\^~]/, '')"; }
cdk_version=$(dev_version aws-cdk-lib)
constructs_version=$(dev_version constructs)

# The jar of this version that an earlier run put in the local repository would be used in place of dist/java's:
# Maven never fetches a release again.
local_repo=$(printf '%s\n' "${MAVEN_OPTS:-}" | sed -n 's/.*-Dmaven\.repo\.local=\([^ ]*\).*/\1/p')
rm -rf "${local_repo:-$HOME/.m2/repository}/dev/itc-orchestrator"

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$(node -p 'process.versions.node.split(".")[0]')
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export DISABLE_V8_COMPILE_CACHE=1

rm -rf "$out"
python3 test/apps/readme_block.py --only --fixture $here/WarehouseApp.java.fixture java 'Quick start' $here/src/main/java/com/myorg/WarehouseApp.java
mvn=(mvn --batch-mode --quiet -Dstyle.color=never --file $here/pom.xml "-Dcdk.version=$cdk_version" "-Dconstructs.version=$constructs_version"
  "-Ditc.version=$version" "-Ditc.repository=file://$PWD/dist/java")

step "compile the Java apps: itc-orchestrator $version, aws-cdk-lib $cdk_version, constructs $constructs_version"
"${mvn[@]}" compile
step "synthesize the README's Java Quick start"
CDK_OUTDIR=$PWD/$out/java/quick-start "${mvn[@]}" exec:java -Dapp.mainClass=com.myorg.WarehouseApp
step "synthesize the Java Fargate/IAM app"
CDK_OUTDIR=$PWD/$out/java/fargate-iam "${mvn[@]}" exec:java -Dapp.mainClass=com.myorg.FargateIamApp

step "synthesize the TypeScript twins"
test/apps/synth-twins.sh $out/typescript

step "compare the templates"
python3 test/apps/compare_templates.py --name Java --identical $out/java $out/typescript quick-start:Warehouse fargate-iam:FargateIam:fargate

echo "test:java: all checks passed in ${SECONDS}s"
