#!/usr/bin/env bash
# Make this machine ready to run the test hosts: a Docker engine that answers
# and the systemd base images. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

apt_install() {
  [ "$(id -u)" = 0 ] || die "installing $* needs root (run as root or install it yourself)"
  command -v apt-get >/dev/null || die "no apt-get here: install $* by hand (Debian/Ubuntu are supported)"
  if [ ! -f /var/lib/apt/periodic/celery-fleet-updated ]; then
    apt-get update -qq
    mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/celery-fleet-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null; then
    log "Installing Debian's Docker engine (docker.io)"
    apt_install docker.io
  fi
  if docker info >/dev/null 2>&1; then return; fi
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
    :
  else
    # No systemd as PID 1 (CI VMs, containers): run the daemon in the
    # background and leave it running for later commands.
    log "Starting dockerd in the background (log: /var/log/celery-fleet-dockerd.log)"
    nohup dockerd >/var/log/celery-fleet-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  die "the Docker engine does not answer; see /var/log/celery-fleet-dockerd.log"
}

ensure_image() {
  local suite=$1 tag=$2 want have
  want=$(cat molecule/_platform/image.sh | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "org.celery-fleet.recipe" }}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    log "Image $tag is up to date"
    return
  fi
  command -v debootstrap >/dev/null || apt_install debootstrap
  log "Building image $tag from Debian $suite"
  molecule/_platform/image.sh "$suite" "$tag" "$want"
}

ensure_docker
# Build both images at once: each is mostly waiting on the mirror.
ensure_image bookworm celery-fleet/debian:12 > >(sed 's/^/[debian:12] /') 2>&1 &
b12=$!
ensure_image trixie celery-fleet/debian:13 > >(sed 's/^/[debian:13] /') 2>&1 &
b13=$!
wait $b12 || die "building celery-fleet/debian:12 failed"
wait $b13 || die "building celery-fleet/debian:13 failed"
# Drop the images a recipe change replaced.
docker image prune -f --filter label=org.celery-fleet.recipe >/dev/null
