#!/usr/bin/env bash
# Make this machine ready to run the test hosts: a Docker engine that answers
# and the systemd base images. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

recipe=$(sha256sum <molecule/_platform/image.sh | cut -c1-16)
images=("bookworm celery-fleet/debian:12" "trixie celery-fleet/debian:13")

image_is_current() {  # image_is_current TAG: built from this recipe
  [ "$(docker image inspect -f '{{ index .Config.Labels "org.celery-fleet.recipe" }}' "$1" 2>/dev/null)" = "$recipe" ]
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  command -v dockerd >/dev/null || die "dockerd is not installed (install docker.io)"
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

ensure_image() {  # ensure_image SUITE TAG
  if image_is_current "$2"; then
    log "Image $2 is up to date"
    return
  fi
  log "Building image $2 from Debian $1"
  molecule/_platform/image.sh "$1" "$2" "$recipe"
}

# Everything this machine needs from apt, in one apt-get call, before anything
# runs in parallel: the Docker engine when there is none, and debootstrap
# when an image has to be built (always so without an engine).
needed=()
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then
  log "Installing Debian's Docker engine (docker.io)"
  needed+=(docker.io debootstrap)
fi
# Debian's chromium and its driver: the monitoring checks look at Flower's
# pages as an operator does, through the SSH forwards, and keep screenshots.
if ! command -v chromedriver >/dev/null || [ ! -x /usr/bin/chromium ]; then
  log "Installing Debian's chromium and chromium-driver (the browser checks)"
  needed+=(chromium chromium-driver)
fi
apt_install "${needed[@]}"
ensure_docker
stale=()
for image in "${images[@]}"; do
  image_is_current "${image#* }" || stale+=("${image#* }")
done
[ ${#stale[@]} -eq 0 ] || apt_install debootstrap

# Build the images at once: each is mostly waiting on the mirror, and neither
# build touches this machine's apt.
pids=()
for image in "${images[@]}"; do
  read -r suite tag <<<"$image"
  ensure_image "$suite" "$tag" > >(sed "s/^/[${tag#*/}] /") 2>&1 &
  pids+=("$!:$tag")
done
for entry in "${pids[@]}"; do
  wait "${entry%%:*}" || die "building ${entry#*:} failed (its output is above, prefixed [${entry#*/}])"
done
# Drop the images a recipe change replaced.
docker image prune -f --filter label=org.celery-fleet.recipe >/dev/null
