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
    # MongoDB's packages come from MongoDB's own repository only.
    if reason=$(molecule/_platform/preconditions/mongodb.sh 2>&1); then
      backend=mongodb
    else
      backend=rpc
      echo "Note: $reason: the lab uses Celery's rpc result backend instead of MongoDB."
    fi
    phase "1/5 Tool chain (.venv)"
    scripts/venv.sh
    # shellcheck disable=SC1091
    . .venv/bin/activate
    phase "2/5 Docker engine and images"
    scripts/platform.sh
    phase "3/5 Lab containers (celery-fleet-hub, celery-fleet-worker1, celery-fleet-worker2)"
    ansible-playbook -i inventory/lab molecule/_platform/lab.yml
    phase "4/5 Converge the fleet: ansible-playbook site.yml"
    ansible-playbook site.yml -e fleet_result_backend=$backend
    phase "5/5 The operator's side: ansible-playbook controller.yml, then tasks from this machine"
    ansible-playbook controller.yml -e fleet_result_backend=$backend
    (cd app && python demo.py)
    # The hub's monitoring on this machine's loopback, until `lab.sh down`.
    lab_dir=$HOME/.config/celery-fleet/lab
    [ -f "$lab_dir/tunnel.pid" ] && kill "$(cat "$lab_dir/tunnel.pid")" 2>/dev/null || true
    nohup python scripts/fleet_tunnel.py -i inventory/lab >"$lab_dir/tunnel.log" 2>&1 &
    echo $! >"$lab_dir/tunnel.pid"
    cat <<EOT

Monitoring (forwarded by scripts/fleet_tunnel.py, log: $lab_dir/tunnel.log):
  Flower        http://127.0.0.1:5555/   user operator, password in $lab_dir/flower-login-password
  Prometheus    http://127.0.0.1:9090/alerts
  Alertmanager  http://127.0.0.1:9093/
EOT
    cat <<'EOT'

The lab is up: a hub (RabbitMQ, AMQPS published on 127.0.0.1:5671) and two
workers, converged by the real site.yml. From this machine:
  . .venv/bin/activate && cd app
  celery -A proj inspect active
  python -c 'from proj.tasks import add; print(add.delay(2, 3).get(timeout=30))'
Manage the workers (from the repo root):
  ansible-playbook workers.yml --tags restart      # also: start, stop, deploy
  ansible-playbook playbooks/status.yml            # the fleet at a glance; logs.yml, backup.yml, ...
Results go through the result backend chosen above (fleet_result_backend).
Tear it all down: scripts/lab.sh down   (or make lab-down)
EOT
    ;;
  down)
    . .venv/bin/activate
    if [ -f "$HOME/.config/celery-fleet/lab/tunnel.pid" ]; then
      kill "$(cat "$HOME/.config/celery-fleet/lab/tunnel.pid")" 2>/dev/null || true
    fi
    ansible-playbook -i inventory/lab molecule/_platform/lab.yml -e lab_state=absent
    # What the lab left on this machine: its CA, secrets and the rendered
    # client settings.
    rm -rf "$HOME/.config/celery-fleet/lab" app/celeryconfig.py app/celeryconfig_local.py app/controller
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
