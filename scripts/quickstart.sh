#!/usr/bin/env bash
# Installs what krust needs, builds it, starts `krust server` in the background (data in
# /var/lib/krust, admin kubeconfig in /etc/krust/krust.yaml, log in /var/log/krust.log) and
# applies the article's Deployment (examples/nginx-deployment.yaml). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked --bin krust
install -m 0755 target/release/krust /usr/local/bin/krust
if ! pgrep -x krust >/dev/null 2>&1; then
  nohup /usr/local/bin/krust server >/var/log/krust.log 2>&1 &
fi
export KUBECONFIG=/etc/krust/krust.yaml
for _ in $(seq 1 120); do
  kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
kubectl apply -f examples/nginx-deployment.yaml
kubectl get deployments
echo
echo "krust is running. Use it with: export KUBECONFIG=/etc/krust/krust.yaml"
