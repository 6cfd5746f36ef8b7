#!/usr/bin/env bash
# The whole test suite: sets up what it needs (virtualenv, Docker engine,
# images), lints, checks the playbooks, runs every molecule scenario and ends
# with a one-screen summary. Usage:
#   scripts/test.sh                 everything
#   scripts/test.sh common tls      only these scenarios (lint and checks too)
# Logs: .test-logs/<step>.log
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
logs=$root/.test-logs
# Each step overwrites its own log; other logs (a parallel run's) stay.
mkdir -p "$logs"

declare -a rows=()
passed=0 failed=0 notrun=0
started=$(date +%s)

record() {  # record <kind> <name> <status> [detail]
  rows+=("$(printf '%-9s %-22s %s' "$1" "$2" "$3${4:+ $4}")")
  case $3 in
    passed) passed=$((passed + 1)) ;;
    failed) failed=$((failed + 1)) ;;
    *) notrun=$((notrun + 1)) ;;
  esac
}

step() {  # step <kind> <name> <command...>: run, log, record
  local kind=$1 name=$2; shift 2
  local log="$logs/$name.log" t0=$(date +%s)
  printf '==> %-9s %-22s ' "$kind" "$name"
  if "$@" >"$log" 2>&1; then
    printf 'passed (%ss)\n' $(( $(date +%s) - t0 ))
    record "$kind" "$name" passed "($(( $(date +%s) - t0 ))s)"
  else
    printf 'FAILED (%ss), last lines of %s:\n' $(( $(date +%s) - t0 )) "${log#"$root"/}"
    sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 40 | sed 's/^/    /'
    record "$kind" "$name" failed "(see ${log#"$root"/})"
  fi
}

echo "==> Setting up the virtualenv"
scripts/venv.sh || { echo "ERROR: could not set up the virtualenv"; exit 1; }
# shellcheck disable=SC1091
. .venv/bin/activate
echo "==> Setting up Docker and the test images"
scripts/platform.sh || { echo "ERROR: the test platform could not be set up"; exit 1; }

# --- Static checks ---------------------------------------------------------
step lint yamllint yamllint --strict .
step lint ansible-lint ansible-lint --profile production
step lint ruff sh -c 'ruff check . && ruff format --check .'
syntax_check() {
  for pb in site.yml workers.yml playbooks/*.yml; do
    echo "--- $pb"
    ansible-playbook --syntax-check "$pb" || return 1
  done
}
step check syntax syntax_check
# The unit tests (tests/) run in a lane beside the scenarios, below.

# --- Molecule scenarios ----------------------------------------------------
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for dir in molecule/*/; do
    name=$(basename "$dir")
    case $name in _*) continue ;; esac
    scenarios+=("$name")
  done
fi

run_scenario() {
  local name=$1
  molecule test -s "$name" || return 1
  # Secrets must not show up anywhere in the output of the run.
  python3 scripts/check_secrets.py "$logs/$name.log"
}

# The unit tests and the scenarios run side by side (CELERY_FLEET_TEST_JOBS
# at a time, default 2): each scenario has its own containers and names, and
# most of its time is spent waiting (apt, pip, brokers starting, tasks'
# countdowns). The longest start first so that the lanes end together; the
# results are listed in order, each line printed when its job ends.
jobs_max=${CELERY_FLEET_TEST_JOBS:-2}
longest_first=(e2e apps default acme pytest rabbitmq)
jobs_list=(pytest "${scenarios[@]}")
ordered=()
for name in "${longest_first[@]}" "${jobs_list[@]}"; do
  for wanted in "${jobs_list[@]}"; do
    if [ "$name" = "$wanted" ] && [[ ! " ${ordered[*]} " =~ " $name " ]]; then
      ordered+=("$name")
    fi
  done
done

lane() {  # lane <name>: run the unit tests or one scenario, leave its row in a file
  local name=$1 pre=molecule/_platform/preconditions/$1.sh reason
  rows=() passed=0 failed=0 notrun=0
  if [ "$name" = pytest ]; then
    step check pytest python -m pytest -q -p no:cacheprovider tests
  elif [ -x "$pre" ] && ! reason=$("$pre" 2>&1); then
    printf '==> %-9s %-22s not run: %s\n' scenario "$name" "$reason"
    record scenario "$name" "not run:" "$reason"
  else
    step scenario "$name" run_scenario "$name"
  fi
  printf '%s\n' "${rows[0]}" >"$logs/$name.row"
}

for name in "${ordered[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
    wait -n || true
  done
  rm -f "$logs/$name.row"
  # Whole lines only: a job's output is printed when it ends.
  { lane "$name" >"$logs/$name.out" 2>&1; cat "$logs/$name.out"; } &
done
wait
for name in "${jobs_list[@]}"; do
  kind=scenario
  [ "$name" = pytest ] && kind=check
  row=$(cat "$logs/$name.row" 2>/dev/null || printf '%-9s %-22s %s' "$kind" "$name" "failed (no result)")
  rows+=("$row")
  case $row in
    *" not run:"*) notrun=$((notrun + 1)) ;;
    *" passed"*) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done

# --- Summary ---------------------------------------------------------------
total=$(( $(date +%s) - started ))
echo
echo "=============================== celery-fleet tests ==============================="
printf '%s\n' "${rows[@]}"
echo "----------------------------------------------------------------------------------"
printf 'Took %dm%02ds. Logs in .test-logs/.\n' $((total / 60)) $((total % 60))
echo "summary: $passed passed, $failed failed, $notrun skipped"
[ "$failed" -eq 0 ]
