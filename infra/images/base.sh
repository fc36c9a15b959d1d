#!/usr/bin/env bash
# Makes localhost/ordo-debian:bookworm, the base of every image here, from Debian's packages with
# debootstrap (no image registry is needed). Runs only when the image is missing: `podman rmi`
# it to rebuild. ~40 s plus the import.
source "$(dirname "$0")/lib.sh"

podman image exists "$BASE_IMAGE" && exit 0
root="$(mktemp -d /var/tmp/ordo-debootstrap.XXXXXX)"
trap 'rm -rf "$root"' EXIT
mirror="$(debian_mirror)"
log "debootstrap $DEBIAN_SUITE (minbase) from $mirror"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 30 "$root.log" >&2; die "debootstrap failed"; }
rm -f "$root.log"
# The rootfs keeps the mirror debootstrap used; images install their packages from it.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
tar -C "$root" --numeric-owner -c . |
  podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
log "made $BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
