#!/usr/bin/env bash
# Build one systemd base image for the test hosts from Debian's mirror:
#   image.sh <suite> <tag>        e.g. image.sh bookworm celery-fleet/debian:12
# No registry is reachable on the build machines, so the root file system is
# made with debootstrap and imported. The image carries a label with the hash
# of this recipe; platform.sh rebuilds an image only when that hash changes.
set -euo pipefail
suite=$1 tag=$2 recipe_hash=$3
mirror=${CELERY_FLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# What every test host needs before Ansible runs: systemd as PID 1, dbus for
# systemd-run/timedatectl, Python for Ansible, and an SSH server for the
# scenarios that reach hosts over SSH as in production.
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,openssh-server,iproute2,procps,gnupg

root=$(mktemp -d /var/tmp/celery-fleet-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "==> debootstrap $suite into $root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log"; exit 1; }
rm -f "$root.log"

# The build machine's CA bundle, so that pip inside test hosts reaches PyPI
# through this network. Test image only: the roles never do this.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/celery-fleet/build-ca.crt"
  printf '[global]\ncert = /usr/local/share/celery-fleet/build-ca.crt\n' >"$root/etc/pip.conf"
fi

# Container hygiene: no units that make no sense without hardware, no
# SSH host keys baked into the image (each container makes its own).
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' >"$root/etc/systemd/system/ssh.service.d/hostkeys.conf"
for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
            systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/90-no-recommends"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# An empty list directory with an old date: the first `apt` task updates it.
touch -d @0 "$root/var/lib/apt/lists"

echo "==> importing $tag"
tar -C "$root" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  -c "LABEL org.celery-fleet.recipe=$recipe_hash" \
  - "$tag" >/dev/null
