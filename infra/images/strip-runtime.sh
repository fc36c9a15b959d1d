#!/bin/sh
# Run inside the runtime stage of an image: adds the non-root user and removes what a running
# service never needs and an intruder could use (package managers, pip, compilers, docs).
set -eu
groupadd --gid 10001 ordo
useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home \
  --shell /usr/sbin/nologin ordo
# Package managers: apt and dpkg with their databases (so nothing can be installed or queried).
rm -rf /usr/bin/apt* /usr/bin/dpkg* /usr/sbin/dpkg* /usr/lib/apt /usr/lib/dpkg /etc/apt \
  /etc/dpkg /var/lib/apt /var/cache/apt /var/lib/dpkg /var/log/apt /var/log/dpkg.log \
  /usr/share/doc /usr/share/man /usr/share/info /usr/share/lintian
# pip and its helpers in the system Python (an official python image has them; uv seeds none in
# the venv, and tests/images checks that none is importable).
rm -rf /usr/local/bin/pip* /usr/local/lib/python3*/site-packages/pip* \
  /usr/local/lib/python3*/site-packages/setuptools* /usr/local/lib/python3*/site-packages/wheel* \
  /usr/lib/python3/dist-packages/pip*
# Compilers, if a base image brought any.
for tool in gcc cc c++ g++ cpp make ld as; do
  rm -f "/usr/bin/$tool" "/usr/local/bin/$tool"
done
