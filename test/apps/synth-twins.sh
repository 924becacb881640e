#!/usr/bin/env bash
# Synthesizes the TypeScript twins of the Java and Go apps from the sources, each stack in its folder of $1:
# quick-start (the README's TypeScript Quick start, importing the sources in place of the package, written out in
# $1/.src) and fargate-iam.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1
build=$out/.src
rm -rf "$out"
python3 test/apps/readme_block.py 'ts fixture=app' 'Quick start' "$build/quick-start.ts"
sed -i "s#from 'itc-orchestrator'#from '$PWD/src'#" "$build/quick-start.ts"
grep -q "from '$PWD/src'" "$build/quick-start.ts" || { echo "synth-twins: the README's Quick start imports no 'itc-orchestrator'" >&2; exit 1; }
ts_node="npx ts-node --transpile-only --project test/tsconfig.json"
CDK_OUTDIR=$out/quick-start $ts_node "$build/quick-start.ts"
CDK_OUTDIR=$out/fargate-iam $ts_node test/apps/fargate-iam.ts
