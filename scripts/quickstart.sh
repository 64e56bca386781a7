#!/usr/bin/env bash
# Installs what krust needs, builds it, builds the pause/busybox/nginx images into the node's
# air-gap folder, starts `krust server` (control plane + node agent) in the background (data in
# /var/lib/krust, admin kubeconfig in /etc/krust/krust.yaml, log in /var/log/krust.log), and
# applies the article's Deployment (examples/nginx-deployment.yaml) until it is available.
# Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked --bin krust
install -m 0755 target/release/krust /usr/local/bin/krust
scripts/build-images.sh /var/lib/krust/agent/images
if ! pgrep -x krust >/dev/null 2>&1; then
  nohup /usr/local/bin/krust server >/var/log/krust.log 2>&1 &
fi
export KUBECONFIG=/etc/krust/krust.yaml
for _ in $(seq 1 240); do
  kubectl get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
for _ in $(seq 1 240); do
  kubectl get nodes 2>/dev/null | grep -q ' Ready ' && break
  sleep 0.5
done
kubectl apply -f examples/nginx-deployment.yaml
kubectl rollout status deployment/nginx-deployment --timeout=180s
kubectl get deployments
kubectl get pods -o wide
echo
echo "krust is running. Use it with: export KUBECONFIG=/etc/krust/krust.yaml"
