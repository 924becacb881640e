#!/usr/bin/env bash
# Python smoke test for the PyPI package.
#
# Installs the wheel built by `npx projen package:python` into a fresh virtual environment together
# with aws-cdk-lib and constructs from PyPI, synthesizes the Python app test/python/app.py with it,
# synthesizes its TypeScript twin test/python/app.ts from the sources, and checks that both
# templates match, that the bundled refresh handler reached the Python app's cdk.out, that the
# package in the wheel (the npm package) ships no demo or test code, that the Python apps
# and snippets of the README and docs/ synthesize as written without AWS credentials, and that bad input from Python
# fails with the jsii error naming the prop.
#
# Run it from a built tree: `npx projen compile && npx projen package:python && npx projen test:python`
# (.ci/run does this after `npx projen build`).
#
# Environment:
#   PYTHON         interpreter for the virtual environment (default: python3)
#   PIP_CACHE_DIR  pip's download cache, kept between runs so only the first run downloads
#                  aws-cdk-lib (default: pip's own, ~/.cache/pip)
set -euo pipefail
cd "$(dirname "$0")/../.."

here=test/python
venv=$here/.venv
out=$here/cdk.out
stack=ItcOrchestratorSmoke

fail() { echo "test:python: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }

shopt -s nullglob
wheels=(dist/python/itc_orchestrator-*.whl)
shopt -u nullglob
[ ${#wheels[@]} -eq 1 ] || fail "expected exactly one wheel in dist/python, found ${#wheels[@]}; run 'npx projen compile && npx projen package:python' first"
wheel=${wheels[0]}
[ -f assets/engine/refresh.lambda/index.js ] || fail "assets/engine/refresh.lambda/index.js is missing; run 'npx projen bundle' first"
[ -f assets/task-bootstrap/bootstrap/index.js ] || fail "assets/task-bootstrap/bootstrap/index.js is missing; run 'npx projen bundle' first"

# The Python app runs on the aws-cdk-lib and constructs releases the TypeScript twin runs on, so the
# two templates can be compared like for like.
dev_version() { node -p "require('./package.json').devDependencies['$1'].replace(/^[\\^~]/, '')"; }
cdk_version=$(dev_version aws-cdk-lib)
constructs_version=$(dev_version constructs)

# Every jsii process would print its Node.js support notice; the build tools report the Node version already.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$(node -p 'process.versions.node.split(".")[0]')
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
# The jsii runtime would leave its compile cache in the temporary folder.
export DISABLE_V8_COMPILE_CACHE=1

step "fresh virtual environment in $venv"
rm -rf "$venv" "$out"
"${PYTHON:-python3}" -m venv "$venv"
py=$venv/bin/python

step "install $(basename "$wheel"), aws-cdk-lib==$cdk_version, constructs==$constructs_version"
"$py" -m pip install --quiet --no-compile "$wheel" "aws-cdk-lib==$cdk_version" "constructs==$constructs_version"
# Bytecode, compiled on all cores (pip would use one): importing aws-cdk-lib from source takes three
# times as long, each Python step below imports it, and PYTHONDONTWRITEBYTECODE may be set.
"$py" -m compileall -q -j 0 "$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null
"$py" -m pip check

step "synthesize the Python app"
CDK_OUTDIR=$out/python "$py" $here/app.py

step "synthesize the TypeScript twin"
CDK_OUTDIR=$out/typescript npx ts-node --transpile-only --project test/tsconfig.json $here/app.ts

step "compare the templates, check the bundled handler and the published files"
"$py" $here/check_synth.py --stack "$stack" --connections-stack "${stack}Connections" --fargate-stack "${stack}Fargate" --kinds-stack "${stack}Kinds" --python "$out/python" --typescript "$out/typescript"

step "run the Python apps and snippets of the README and docs/"
"$py" $here/readme_apps.py README.md docs/*.md "$out/readme"

step "bad input from Python"
# Its App gets an outdir: without one it makes a folder in the temporary folder, which nothing removes.
CDK_OUTDIR=$out/bad-input "$py" $here/bad_input.py

echo "test:python: all checks passed in ${SECONDS}s"
