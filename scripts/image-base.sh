#!/usr/bin/env bash
# Builds a local Debian bookworm base image (minbase + python3, python3-venv, ca-certificates) with
# debootstrap, for machines that cannot pull python:3.11-slim; docker/Dockerfile takes it as
# BASE_IMAGE. Cached: when the image already exists nothing is done.
#
#   scripts/image-base.sh [IMAGE_NAME]     (ENGINE=podman|docker, DEBIAN_MIRROR=URL)
set -euo pipefail

name=${1:-localhost/realtime-mcp-base:bookworm}
engine=${ENGINE:-podman}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

if "$engine" image inspect "$name" >/dev/null 2>&1; then
  echo "image-base: $name already exists (cached)"
  exit 0
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "image-base: installing debootstrap"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/realtime-mcp-rootfs.XXXXXX")
cleanup() {
  local status=$?
  set +e
  # debootstrap mounts /proc and /sys inside the target; an interrupted run can leave them behind.
  findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | while read -r mnt; do
    $sudo umount -l "$mnt"
  done
  $sudo rm -rf --one-file-system "$rootfs" "$rootfs.log"
  exit "$status"
}
trap cleanup EXIT

echo "image-base: debootstrap $suite into $rootfs"
start=$SECONDS
$sudo timeout 900 debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  echo "image-base: debootstrap failed" >&2
  exit 1
}
rm -f "$rootfs.log"

# Downloaded packages, indexes and docs are dead weight in a base image.
$sudo rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/*

$sudo tar -C "$rootfs" -c . | timeout 300 "$engine" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$name" >/dev/null
echo "image-base: imported $name in $((SECONDS - start)) s"
