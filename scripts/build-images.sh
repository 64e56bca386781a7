#!/usr/bin/env bash
# Builds the container images krust's tests and examples use, WITHOUT any registry, from Debian
# packages, as OCI image-layout archives (importable with `ctr -n k8s.io images import` and by
# `krust images import`, or dropped into `<data-dir>/agent/images/`):
#
#   DIR/pause.tar    registry.k8s.io/pause:3.10, krust.io/pause:3.10   (a static C pause, built here)
#   DIR/busybox.tar  docker.io/library/busybox:latest, :1.36            (busybox-static + applet links)
#   DIR/nginx.tar    docker.io/library/nginx:1.7.9, :latest             (Debian's nginx + its libraries)
#
# `nginx:1.7.9-alpine` deliberately does not exist (the article's broken-image step needs a tag no
# registry serves). Layers are deterministic (sorted entries, fixed mtimes and owners, gzip without
# timestamps), so the same packages give the same digests. Re-running with unchanged inputs does
# nothing (a stamp of the inputs is kept in DIR/.build-images.stamp).
#
# Usage: scripts/build-images.sh DIR        Needs: gcc, busybox-static, nginx-light, python3.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
SCRIPT=$(readlink -f "$0")
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/usr/bin/busybox
NGINX=/usr/sbin/nginx
for need in gcc python3 ldd "$BUSYBOX" "$NGINX"; do
  if ! command -v "$need" >/dev/null 2>&1; then
    echo "build-images.sh: missing $need (run scripts/install-deps.sh)" >&2
    exit 1
  fi
done
if ! "$BUSYBOX" --list >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "build-images.sh: $BUSYBOX is not a static busybox (install busybox-static)" >&2
  exit 1
fi

# Fixed timestamp for every file and the image configs (SOURCE_DATE_EPOCH if set).
EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$ARCH" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; esac

# Inputs: this script, the binaries and their libraries, the compiler.
fingerprint() {
  {
    sha256sum "$SCRIPT" "$BUSYBOX" "$NGINX"
    ldd "$NGINX" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | xargs -r readlink -f |
      xargs -r sha256sum
    gcc --version | head -n1
    echo "$EPOCH $ARCH"
  } | sha256sum | cut -d' ' -f1
}
FP=$(fingerprint)
if [ -f "$OUT/pause.tar" ] && [ -f "$OUT/busybox.tar" ] && [ -f "$OUT/nginx.tar" ] &&
  [ "$(cat "$OUT/.build-images.stamp" 2>/dev/null)" = "$FP" ]; then
  echo "build-images: $OUT is up to date"
  exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
umask 022

# ---------------------------------------------------------------------------------------------
# The OCI layout writer: one gzip layer from a root directory, a config, a manifest, and an
# index.json with one descriptor per tag.
cat >"$WORK/oci.py" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

root, out, spec_json, epoch, arch = sys.argv[1:6]
spec = json.loads(spec_json)
epoch = int(epoch)
created = __import__("datetime").datetime.fromtimestamp(epoch, __import__("datetime").timezone.utc)
created = created.strftime("%Y-%m-%dT%H:%M:%SZ")

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()

# Layer: every path under root, sorted, owned by root, with a fixed mtime.
paths = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        paths.append(os.path.relpath(os.path.join(dirpath, name), root))
paths.sort()
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for rel in paths:
        full = os.path.join(root, rel)
        ti = tar.gettarinfo(full, arcname=rel)
        ti.mtime = epoch
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        if ti.isreg():
            with open(full, "rb") as f:
                tar.addfile(ti, f)
        else:
            tar.addfile(ti)
layer_raw = raw.getvalue()
layer = gzip.compress(layer_raw, compresslevel=6, mtime=0)

config = {
    "architecture": arch,
    "os": "linux",
    "created": created,
    "config": spec["config"],
    "rootfs": {"type": "layers", "diff_ids": [digest(layer_raw)]},
    "history": [{"created": created, "created_by": "krust scripts/build-images.sh"}],
}
config_b = canon(config)
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": digest(config_b),
        "size": len(config_b),
    },
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest(layer),
            "size": len(layer),
        }
    ],
}
manifest_b = canon(manifest)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
for name in spec["names"]:
    tag = name.rsplit(":", 1)[1]
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(manifest_b),
            "size": len(manifest_b),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }
    )

entries = [
    ("oci-layout", canon({"imageLayoutVersion": "1.0.0"})),
    ("index.json", canon(index)),
]
for blob in (config_b, manifest_b, layer):
    entries.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob))
tmp = "%s.tmp.%d" % (out, os.getpid())
with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for d in ("blobs", "blobs/sha256"):
        ti = tarfile.TarInfo(d)
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        ti.mtime = epoch
        tar.addfile(ti)
    for name, data in entries:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = 0o644
        ti.mtime = epoch
        tar.addfile(ti, io.BytesIO(data))
os.replace(tmp, out)
print("%s: %s (%d bytes, layer %d bytes)" % (os.path.basename(out), ", ".join(spec["names"]),
      os.path.getsize(out), len(layer)))
PY

# A minimal Linux root: standard directories, passwd/group with root, nobody and extra users.
base_root() {
  local r=$1
  shift
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,root,home,var,run,tmp}
  chmod 1777 "$r/tmp"
  chmod 700 "$r/root"
  {
    echo "root:x:0:0:root:/root:/bin/sh"
    for u in "$@"; do echo "$u"; done
    echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/false"
  } >"$r/etc/passwd"
  {
    echo "root:x:0:"
    for u in "$@"; do echo "$u" | awk -F: '{ print $1 ":x:" $4 ":" }'; done
    echo "nogroup:x:65534:"
  } >"$r/etc/group"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
}

# busybox and its applets as symlinks (skipping paths that already exist).
add_busybox() {
  local r=$1 applet
  install -m 0755 "$BUSYBOX" "$r/bin/busybox"
  while read -r applet; do
    [ -n "$applet" ] && [ "$applet" != "bin/busybox" ] || continue
    mkdir -p "$r/$(dirname "$applet")"
    [ -e "$r/$applet" ] || [ -L "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
  done < <("$BUSYBOX" --list-full)
}

PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ---------------------------------------------------------------------------------------------
# pause: exits 0 on SIGINT/SIGTERM, reaps zombies on SIGCHLD, otherwise sleeps forever.
cat >"$WORK/pause.c" <<'C'
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "3.10-krust"

static void say(const char *s) { (void)!write(2, s, strlen(s)); }

static void sigdown(int signo) {
  say(signo == SIGINT ? "pause: shutting down, got SIGINT\n" : "pause: shutting down, got SIGTERM\n");
  _exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    (void)!write(1, "pause " VERSION "\n", sizeof("pause " VERSION "\n") - 1);
    return 0;
  }
  if (getpid() != 1) say("pause: warning: not running as PID 1\n");

  struct sigaction down, reap;
  memset(&down, 0, sizeof down);
  down.sa_handler = sigdown;
  sigemptyset(&down.sa_mask);
  if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0) return 1;
  memset(&reap, 0, sizeof reap);
  reap.sa_handler = sigreap;
  reap.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigemptyset(&reap.sa_mask);
  if (sigaction(SIGCHLD, &reap, NULL) < 0) return 2;

  for (;;) pause();
  return 42;
}
C
P="$WORK/pause-root"
mkdir -p "$P"
gcc -static -Os -s -o "$P/pause" "$WORK/pause.c"
python3 "$WORK/oci.py" "$P" "$OUT/pause.tar" '{
  "names": ["registry.k8s.io/pause:3.10", "krust.io/pause:3.10"],
  "config": {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/",
             "Env": ["'"$PATH_ENV"'"]}
}' "$EPOCH" "$ARCH"

# ---------------------------------------------------------------------------------------------
# busybox
B="$WORK/busybox-root"
base_root "$B" "daemon:x:1:1:daemon:/usr/sbin:/bin/false" "www-data:x:33:33:www-data:/var/www:/bin/false"
add_busybox "$B"
python3 "$WORK/oci.py" "$B" "$OUT/busybox.tar" '{
  "names": ["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"],
  "config": {"Cmd": ["sh"], "Env": ["'"$PATH_ENV"'"]}
}' "$EPOCH" "$ARCH"

# ---------------------------------------------------------------------------------------------
# nginx: Debian's binary, the libraries ldd names (at the same paths, so the loader's default
# search finds them), a config like the official image's, and busybox for `kubectl exec`.
N="$WORK/nginx-root"
base_root "$N" "nginx:x:101:101:nginx user:/nonexistent:/bin/false"
install -D -m 0755 "$NGINX" "$N/usr/sbin/nginx"
for lib in $(ldd "$NGINX" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$N$lib"
done
mkdir -p "$N/etc/nginx/conf.d" "$N/var/lib/nginx" "$N/var/log/nginx" "$N/var/cache/nginx" \
  "$N/var/lock" "$N/usr/share/nginx/html"
ln -s /dev/stdout "$N/var/log/nginx/access.log"
ln -s /dev/stderr "$N/var/log/nginx/error.log"
cp /etc/nginx/mime.types "$N/etc/nginx/mime.types"
cat >"$N/etc/nginx/nginx.conf" <<'CONF'
user  nginx;
worker_processes  1;

error_log  stderr notice;
pid        /run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /dev/stdout  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
CONF
cat >"$N/etc/nginx/conf.d/default.conf" <<'CONF'
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
CONF
cat >"$N/usr/share/nginx/html/index.html" <<'HTML'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
HTML
cat >"$N/usr/share/nginx/html/50x.html" <<'HTML'
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
HTML
add_busybox "$N"
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/||p')
python3 "$WORK/oci.py" "$N" "$OUT/nginx.tar" '{
  "names": ["docker.io/library/nginx:1.7.9", "docker.io/library/nginx:latest"],
  "config": {"Cmd": ["nginx", "-g", "daemon off;"], "Env": ["'"$PATH_ENV"'", "NGINX_VERSION='"$NGINX_VERSION"'"],
             "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"}
}' "$EPOCH" "$ARCH"

echo "$FP" >"$OUT/.build-images.stamp"
echo "build-images: done ($OUT)"
