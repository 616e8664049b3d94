#!/usr/bin/env bash
# Cold start of one new agent against `git clone --depth 1` of the same manifests, in one run:
# requests and bytes per new cluster (issue 15). Counts, not timings, so any build will do.
#
#   benches/scripts/cold-start.sh M [BIN_DIR] [CHANGES]   e.g. benches/scripts/cold-start.sh 2000 target/release 12
#
# cairn: `cairn publish` to a local store, then CHANGES (default 0) more publishes each changing
# one more object, served by a counting HTTP server on 127.0.0.1 (every request and every body
# byte it sent), `cairn-agent run --once` with nothing applied. With CHANGES = 0 the head's
# snapshot is the snapshot pack's; from 1 to 8 the head offers a delta pack from the pack's
# snapshot; from 9 on it names a bridge (the worst case: head, pack, bridge, delta pack).
# Git: a repository with the same files, one commit, served by `git http-backend` (smart HTTP,
# protocol v2) behind the same counting server; `git clone --depth 1` over it.
set -euo pipefail
M=${1:?objects}
BIN=${2:-target/debug}
CHANGES=${3:-0}
WORK=$(mktemp -d -t cairn-cold.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/m"
python3 - "$WORK/m" "$M" <<'PY'
import sys
out, m = sys.argv[1], int(sys.argv[2])
for i in range(m):
    body = "\n".join(f"  key{j}: value-{i}-{j}-" + "x" * 40 for j in range(12))
    with open(f"{out}/cm-{i:06}.yaml", "w") as f:
        f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:06}\n  namespace: app\ndata:\n{body}\n")
PY
"$BIN/cairn" keygen --out "$WORK/hub.key" >/dev/null
"$BIN/cairn" publish --store "$WORK/store" --channel prod --key "$WORK/hub.key" "$WORK/m" >/dev/null
for c in $(seq 1 "$CHANGES"); do
  sed -i "s/value-$c-0-/changed-$c-0-/" "$WORK/m/cm-$(printf %06d "$c").yaml"
  "$BIN/cairn" publish --store "$WORK/store" --channel prod --key "$WORK/hub.key" "$WORK/m" >/dev/null
done
git -C "$WORK/m" init -q && git -C "$WORK/m" add . && git -C "$WORK/m" -c user.name=b -c user.email=b@b commit -qm m
git clone -q --bare "$WORK/m" "$WORK/repo.git"
# A counting server: static files under /store/, git smart HTTP under /git/.
cat > "$WORK/serve.py" <<'PY'
import http.server, os, subprocess, sys, threading
root, log = sys.argv[1], sys.argv[2]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def count(self, n):
        with lock, open(log, "a") as f:
            f.write(f"{self.command} {self.path} {n}\n")
    def log_message(self, *a): pass
    def do_GET(self): self.handle_any(b"")
    def do_POST(self):
        self.handle_any(self.rfile.read(int(self.headers.get("content-length", 0))))
    def handle_any(self, body):
        if self.path.startswith("/store/"):
            path = os.path.join(root, "store", self.path[len("/store/"):].split("?")[0])
            if not os.path.isfile(path):
                self.send_response(404); self.end_headers(); self.count(0); return
            data = open(path, "rb").read()
            self.send_response(200); self.send_header("content-length", str(len(data))); self.end_headers()
            self.wfile.write(data); self.count(len(data)); return
        path, _, query = self.path[len("/git"):].partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("content-type", ""), CONTENT_LENGTH=str(len(body)),
                   GIT_PROTOCOL=self.headers.get("git-protocol", ""))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, data = out.partition(b"\r\n\r\n")
        self.send_response(200)
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(": ")
            if k.lower() != "status": self.send_header(k, v)
        self.send_header("content-length", str(len(data))); self.end_headers()
        self.wfile.write(data); self.count(len(data))
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), H).serve_forever()
PY
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$WORK/serve.py" "$WORK" "$WORK/log" "$PORT" & sleep 1
"$BIN/cairn-agent" run --once --store "http://127.0.0.1:$PORT/store/" --channel prod \
  --trust "$WORK/hub.key.pub" --cluster-id c1 --target "dir:$WORK/out" --state-dir "$WORK/state" \
  --status-store "file://$WORK/status" 2>/dev/null
applied=$(find "$WORK/out" -name '*.yaml' | wc -l)
awk -v m="$M" -v a="$applied" -v c="$CHANGES" '{n++; b+=$3} END {printf "cairn cold start, M = %d (%d applied), after %d changes: %d requests, %d bytes\n", m, a, c, n, b}' "$WORK/log"
: > "$WORK/log"
git -c protocol.version=2 clone -q --depth 1 "http://127.0.0.1:$PORT/git/repo.git" "$WORK/clone"
awk -v m="$M" '{n++; b+=$3} END {printf "git clone --depth 1, M = %d: %d requests, %d bytes\n", m, n, b}' "$WORK/log"
