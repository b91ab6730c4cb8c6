#!/usr/bin/env bash
# Build the senet-proto image here without a Docker engine: podman + locally made Debian base images.
#
#   bash docker/build-local.sh [--target main|test] [--flavor cuda|cpu] [--tag NAME] [--force-bases]
#
# - installs podman, buildah and debootstrap (apt) when missing;
# - makes the base images debian:bookworm-slim and debian:bullseye-slim with debootstrap + `podman import`
#   when they are not in podman's storage yet (cached there; --force-bases remakes them);
# - builds docker/Dockerfile with `podman build --isolation chroot` (no daemon, no `podman run`).
#   --target test also runs the whole test suite inside the build (the image's `test` stage).
# - --flavor cuda (default) installs torch and torchvision with CUDA (they run without a GPU too); --flavor cpu
#   the +cpu builds of both, which pip must find (the PyTorch CPU index in pip's configuration, or wheels in a
#   local find-links directory); TORCH_VERSION / TORCHVISION_VERSION override the versions.
#
# Debian mirror: read from this machine's apt configuration at run time (SENET_PROTO_DEBIAN_MIRROR overrides).
# pip inside the build: this machine's pip configuration files and local wheel/index directories are mounted
# read-only into the build (nothing of them is copied into the image or written to the repository).
# Podman storage: podman's default (/var/lib/containers/storage for root; overlay, or what containers/storage picks);
# STORAGE_DRIVER=vfs where overlay mounts are not allowed (vfs copies every layer: about 27 GB of disk for the test
# target instead of about 5).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
target=main
flavor=cuda
tag=""
force_bases=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --flavor) flavor=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --force-bases) force_bases=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-local.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$target" in main|test|caffe) ;; *) echo "build-local.sh: --target must be main, test or caffe" >&2; exit 2 ;; esac
case "$flavor" in cpu|cuda) ;; *) echo "build-local.sh: --flavor must be cpu or cuda" >&2; exit 2 ;; esac
[ -n "$tag" ] || tag="senet-proto:$flavor"; [ "$target" = main ] || tag="$tag-$target"

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "build-local.sh: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
DEBOOTSTRAP=$(command -v debootstrap || echo /usr/sbin/debootstrap)

debian_mirror() {
  if [ -n "${SENET_PROTO_DEBIAN_MIRROR:-}" ]; then echo "$SENET_PROTO_DEBIAN_MIRROR"; return; fi
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || { echo "build-local.sh: no apt sources; set SENET_PROTO_DEBIAN_MIRROR" >&2; exit 1; }
  # URIs of `deb` lines and deb822 `URIs:` fields; the first that is not the security archive and ends in /debian
  awk '/^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }
       /^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i }' "${files[@]}" \
    | grep -v security | grep -E '/debian/?$' | head -n1
}

make_base() {  # make_base SUITE IMAGE
  local suite=$1 image=$2
  if [ "$force_bases" = 0 ] && podman image exists "$image"; then
    echo "build-local.sh: base image $image is cached"
    return
  fi
  local mirror; mirror=$(debian_mirror)
  [ -n "$mirror" ] || { echo "build-local.sh: no Debian mirror found in /etc/apt; set SENET_PROTO_DEBIAN_MIRROR" >&2; exit 1; }
  local tmp; tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/senet-proto-base-$suite.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  echo "build-local.sh: making base image $image (debootstrap $suite, minbase)"
  local t0=$SECONDS
  $SUDO "$DEBOOTSTRAP" --variant=minbase "$suite" "$tmp/root" "$mirror" > "$tmp/debootstrap.log" 2>&1 \
    || { tail -n 20 "$tmp/debootstrap.log" >&2; exit 1; }
  $SUDO rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
  $SUDO tar -C "$tmp/root" --numeric-owner -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
  rm -rf "$tmp"; trap - EXIT
  echo "build-local.sh: base image $image made in $((SECONDS - t0)) s"
}

make_base bookworm debian:bookworm-slim
make_base bullseye debian:bullseye-slim

# pip configuration and local package directories of this machine, mounted read-only into the build
volumes=()
for p in /etc/pip.conf /etc/xdg/pip /opt/wheels /opt/pypi /opt/pypi-more; do
  [ -e "$p" ] && volumes+=(-v "$p:$p:ro")
done
for p in "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  [ -f "$p" ] && volumes+=(-v "$p:/root/.config/pip/pip.conf:ro") && break
done
# this machine's CA bundle (it may hold a local proxy's CA) for pip in the build: mounted outside /etc/ssl (the
# image's own ca-certificates package writes there) and named by the PIP_CERT build argument, used only by RUN
# steps; the image keeps Debian's bundle
cert_args=()
cert=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$cert" ]; then
  volumes+=(-v "$cert:/run/senet-proto-build-ca.crt:ro")
  cert_args+=(--build-arg PIP_CERT=/run/senet-proto-build-ca.crt)
fi
# CPU torch: the newest torch+cpu wheel for Python 3.11 in a local find-links directory, unless TORCH_VERSION is
# set; torchvision: the release made for that torch (torch 2.X.Y <-> torchvision 0.(X+15).Y), of the same flavour
if [ "$flavor" = cpu ] && [ -z "${TORCH_VERSION:-}" ]; then
  TORCH_VERSION=$(find /opt/wheels /opt/pypi-more/files -maxdepth 1 -name 'torch-*+cpu-cp311-*.whl' 2>/dev/null \
                  | sed -E 's#.*/torch-([^+]+)\+cpu.*#\1#' | sort -V | tail -n1)
fi
if [ -n "${TORCH_VERSION:-}" ] && [ -z "${TORCHVISION_VERSION:-}" ]; then
  IFS=. read -r major minor patch <<< "$TORCH_VERSION"
  [ "$major" = 2 ] || { echo "build-local.sh: set TORCHVISION_VERSION for torch $TORCH_VERSION" >&2; exit 2; }
  TORCHVISION_VERSION="0.$((minor + 15)).${patch:-0}"
fi
if [ "$flavor" = cpu ] && ! find /opt/wheels /opt/pypi-more/files -maxdepth 1 \
     -name "torchvision-${TORCHVISION_VERSION:-*}+cpu-*.whl" 2>/dev/null | grep -q .; then
  echo "build-local.sh: note: no local torchvision${TORCHVISION_VERSION:+ $TORCHVISION_VERSION}+cpu wheel; pip must find" \
       "it in its configured index (the CUDA torchvision does not load beside a CPU torch; --flavor cuda avoids this)"
fi

echo "build-local.sh: building $tag (target $target, torch $flavor) with podman (${STORAGE_DRIVER:-default} storage)"
t0=$SECONDS
podman build --isolation chroot --pull=never \
  -f "$here/Dockerfile" --ignorefile "$here/Dockerfile.dockerignore" \
  --target "$target" --build-arg "TORCH_FLAVOR=$flavor" ${TORCH_VERSION:+--build-arg "TORCH_VERSION=$TORCH_VERSION"} \
  ${TORCHVISION_VERSION:+--build-arg "TORCHVISION_VERSION=$TORCHVISION_VERSION"} \
  "${volumes[@]}" "${cert_args[@]}" \
  -t "$tag" "$repo"
echo "build-local.sh: built $tag in $((SECONDS - t0)) s"
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$tag"
