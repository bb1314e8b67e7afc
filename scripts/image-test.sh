#!/usr/bin/env bash
# CI's image test: build docker/Dockerfile, then prove the image serves (tests/image: a real MCP client
# against the image's own command, auth on, a token minted by the image's own CLI).
#
# With a Docker engine (`docker info` answers): docker build / docker run. Without one (the CI
# machine): podman builds with chroot isolation on a local debootstrap base image, and the tests run
# the image's command in a chroot of the mounted image. podman and debootstrap come from apt when
# missing. Prints base build time, image build time, image size and time to healthy.
#
#   scripts/image-test.sh      (REALTIME_MCP_IMAGE=name:tag, BASE_IMAGE=image to skip the base step)
set -euo pipefail
cd "$(dirname "$0")/.."

image=${REALTIME_MCP_IMAGE:-localhost/realtime-mcp:test}
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
work=$(mktemp -d "${TMPDIR:-/tmp}/realtime-mcp-image-test.XXXXXX")
report="$work/report.json"
engine=""

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local status=$?
  set +e
  if [ "$engine" = podman ]; then
    # A test run cut short can leave the image mounted, with bind mounts and chrooted servers in it.
    local root
    root=$(podman image mount 2>/dev/null | awk -v img="$image" '$1 == img || $1 == "localhost/" img { print $2; exit }')
    if [ -n "$root" ]; then
      for proc in /proc/[0-9]*; do
        if [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ]; then
          $sudo kill -9 "${proc#/proc/}" 2>/dev/null || true
        fi
      done
      findmnt -rn -o TARGET | grep -F "$root/" | sort -r | while read -r mnt; do
        $sudo umount -l "$mnt" || true
      done
      timeout 60 podman image unmount "$image" >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if timeout 20 docker info >/dev/null 2>&1; then
  engine=docker
else
  engine=podman
  need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  if ((${#need[@]})); then
    echo "image-test: installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >/dev/null
  fi
fi
echo "image-test: engine $engine"

start=$SECONDS
if [ -n "${BASE_IMAGE:-}" ]; then
  base=$BASE_IMAGE
elif [ "$engine" = docker ] && timeout 600 docker pull -q python:3.11-slim >/dev/null 2>&1; then
  base=python:3.11-slim
else
  base=localhost/realtime-mcp-base:bookworm
  ENGINE=$engine timeout 1200 bash scripts/image-base.sh "$base" || {
    echo "image-test: could not build the base image $base" >&2
    exit 1
  }
fi
base_seconds=$((SECONDS - start))

old_id=$("$engine" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
build=("$engine" build --build-arg "BASE_IMAGE=$base" -f docker/Dockerfile -t "$image")
if [ "$engine" = podman ]; then
  # podman run has no cgroup/rlimit control here, so RUN steps use chroot isolation; pip reaches
  # PyPI through the host network and trusts the host's CA bundle; docker format keeps HEALTHCHECK.
  build+=(--isolation chroot --network host --format docker -v /etc/ssl/certs:/etc/ssl/certs:ro)
fi
echo "image-test: building $image on $base"
start=$SECONDS
if ! timeout 1200 "${build[@]}" . >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  echo "image-test: build failed" >&2
  exit 1
fi
build_seconds=$((SECONDS - start))
new_id=$("$engine" image inspect --format '{{.Id}}' "$image")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  # The previous build of this tag, now untagged; only ours, so nothing else is pruned.
  "$engine" rmi "$old_id" >/dev/null 2>&1 || true
fi
size_bytes=$("$engine" image inspect --format '{{.Size}}' "$image")

echo "image-test: testing $image"
status=0
REALTIME_MCP_IMAGE=$image REALTIME_MCP_IMAGE_ENGINE=$engine REALTIME_MCP_IMAGE_REPORT=$report \
  timeout 900 .venv/bin/pytest tests/image -q -p no:cacheprovider || status=$?

healthy=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('seconds_to_healthy','?'))" \
  "$report" 2>/dev/null || echo "?")
echo "image-test: engine=$engine base=$base"
echo "image-test: base build ${base_seconds} s, image build ${build_seconds} s," \
  "image size $((size_bytes / 1000000)) MB, time to healthy ${healthy} s"
exit "$status"
