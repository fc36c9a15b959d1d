#!/usr/bin/env bash
# Installs podman, buildah, runc and debootstrap from Debian's packages when missing (CI starts on
# a fresh machine). Prints nothing when everything is present.
source "$(dirname "$0")/lib.sh"

missing=()
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap newuidmap:uidmap \
  slirp4netns:slirp4netns fuse-overlayfs:fuse-overlayfs iptables:iptables; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
((${#missing[@]} == 0)) && exit 0
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
