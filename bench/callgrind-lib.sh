# Shared by bench/callgrind-ir and bench/callgrind-chain (sourced, not run): a temporary
# directory cleaned up with every process started, free loopback ports, and an nginx origin that
# serves a static body of BODY bytes at "/".
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
body="${BODY:-1024}"
out="${OUT:-/tmp/callgrind-ir}"
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$(basename "$0"): $tool is not installed" >&2; exit 1; }
  done
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): nothing listens on port $1" >&2
  exit 1
}

# Starts nginx on 127.0.0.1:$origin_port (set here), optionally under a CPU pin ("$@").
start_origin() {
  origin_port="$(free_port)"
  mkdir -p "$work/www"
  head -c "$body" /dev/zero | tr '\0' x >"$work/www/body"
  cat >"$work/nginx.conf" <<EOC
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  sendfile on;
  default_type text/plain;
  client_body_temp_path $work/nb;
  proxy_temp_path $work/np;
  fastcgi_temp_path $work/nf;
  uwsgi_temp_path $work/nu;
  scgi_temp_path $work/ns;
  server {
    listen 127.0.0.1:$origin_port;
    root $work/www;
    location = / { try_files /body =404; }
  }
}
EOC
  "$@" nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$origin_port"
}

newest_dump() { ls -t "$out/$1".* | head -1; }  # the newest dump whose name starts with $1
summary_ir() { awk '/^summary:/ {print $2; exit}' "$1"; }  # the Ir total of dump $1
