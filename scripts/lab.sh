#!/usr/bin/env bash
# The lab: a hub and two workers as local containers, converged by the real
# site.yml through inventory/lab.
#   scripts/lab.sh up     set up everything, start the containers, converge
#   scripts/lab.sh down   remove every container and network the lab made
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { printf '\n\033[1m### %s\033[0m\n' "$*"; }

case ${1:-up} in
  up)
    phase "1/4 Tool chain (.venv)"
    scripts/venv.sh
    # shellcheck disable=SC1091
    . .venv/bin/activate
    phase "2/4 Docker engine and images"
    scripts/platform.sh
    phase "3/4 Lab containers (celery-fleet-hub, celery-fleet-worker1, celery-fleet-worker2)"
    ansible-playbook -i inventory/lab molecule/_platform/lab.yml
    phase "4/4 Converge the fleet: ansible-playbook site.yml"
    ansible-playbook site.yml
    cat <<'EOT'

The lab is up.
  Converge again:        . .venv/bin/activate && ansible-playbook site.yml
  Worker commands:       ansible-playbook workers.yml --tags restart
  A shell on the hub:    docker exec -it celery-fleet-hub bash
  Tear it all down:      make lab-down
EOT
    ;;
  down)
    . .venv/bin/activate
    ansible-playbook -i inventory/lab molecule/_platform/lab.yml -e lab_state=absent
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
