#!/usr/bin/env bash
# The agent image: its size, and how long a container takes from `podman run` to the agent's exit,
# against the bare binary outside a container in the same run (issue 24).
#
#   benches/scripts/image-cold-start.sh [RUNS] [OBJECTS]     e.g. benches/scripts/image-cold-start.sh 11 20
#
# Builds the image with scripts/image, loads it into a podman whose storage lives in a temporary
# directory (scripts/image-podman.conf: runc, rlimits within reach; podman and runc must be
# installed, as scripts/test does), publishes OBJECTS (default
# 20) ConfigMaps to a local store, then RUNS (default 11) times each, printing the median, the
# fastest and the slowest in milliseconds:
#   podman run IMAGE --version                        and  cairn-agent --version
#   podman run IMAGE run --once (store mounted)       and  cairn-agent run --once
# Every `run --once` starts with empty state and target directories: a first apply, the whole
# snapshot fetched. Containers run with `--network none` (the store is a mounted directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-11}
OBJECTS=${2:-20}

archive=$(scripts/image)
cargo build --quiet --locked -p cairn-hub
CAIRN=target/debug/cairn
AGENT=target/dist/cairn-agent

WORK=$(mktemp -d -t cairn-image-bench.XXXXXX)
export CONTAINERS_CONF=$PWD/scripts/image-podman.conf
podman() { command podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp" "$@"; }
trap 'podman rmi --all --force >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

image=$(podman load --quiet --input "$archive" | sed -n 's/^Loaded image: //p')

mkdir -p "$WORK/m"
for i in $(seq 1 "$OBJECTS"); do
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%04d, namespace: app}\ndata: {key: value-%d}\n---\n' "$i" "$i"
done >"$WORK/m/cms.yaml"
"$CAIRN" keygen --out "$WORK/hub.key" >/dev/null
"$CAIRN" publish --store "$WORK/store" --channel prod --key "$WORK/hub.key" "$WORK/m" >/dev/null
# The container's user (65532) writes its status records into the store.
find "$WORK/store" -type d -exec chmod 0777 {} +

# Fresh target and state directories, writable by the container's user.
fresh() {
  rm -rf "$WORK/out" "$WORK/state"
  mkdir -m 0777 "$WORK/out" "$WORK/state"
}

# Milliseconds the command takes, on stdout; the command's own output is discarded.
time_ms() {
  local start=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || { echo "image-cold-start: failed: $*" >&2; "$@" >&2; exit 1; }
  local end=$EPOCHREALTIME
  echo "$(( (${end/./} - ${start/./}) / 1000 ))"
}

# median min max of the numbers on stdin.
summary() {
  sort -n | awk '{ v[NR] = $1 } END { printf "%d ms (min %d, max %d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# RUNS timings of the command, after `fresh` each time.
measure() {
  for _ in $(seq 1 "$RUNS"); do
    fresh
    time_ms "$@"
  done | summary
}

container=(podman run --rm --network none --pull never)
once_env=(--env CAIRN_STORE=/store --env CAIRN_CHANNEL=prod --env CAIRN_TRUST=/hub.key.pub
  --env CAIRN_CLUSTER_ID=bench --env CAIRN_TARGET=dir:/out --env CAIRN_STATE_DIR=/state)
mounts=(--volume "$WORK/store:/store" --volume "$WORK/hub.key.pub:/hub.key.pub:ro"
  --volume "$WORK/out:/out" --volume "$WORK/state:/state")
bare_once=("$AGENT" run --once --store "$WORK/store" --channel prod --trust "$WORK/hub.key.pub"
  --cluster-id bench --target "dir:$WORK/out" --state-dir "$WORK/state")

layer=$(tar -xOf "$archive" index.json | jq -r '.manifests[0].digest | sub(":"; "/")' |
  xargs -I{} tar -xOf "$archive" blobs/{} | jq '.layers | map(.size) | add')
echo "image $image ($archive), $RUNS runs each, $OBJECTS objects, podman $(command podman --version | cut -d' ' -f3), $(podman info --format '{{.Store.GraphDriverName}}') storage"
echo "archive:                 $(stat -c %s "$archive") bytes ($layer bytes of gzip layer)"
echo "image, uncompressed:     $(podman image inspect --format '{{.Size}}' "$image") bytes"
echo "binary (stripped):       $(stat -c %s "$AGENT") bytes"
echo "--version, container:    $(measure "${container[@]}" "$image" --version)"
echo "--version, bare binary:  $(measure "$AGENT" --version)"
echo "run --once, container:   $(measure "${container[@]}" "${mounts[@]}" "${once_env[@]}" "$image" run --once)"
echo "run --once, bare binary: $(measure "${bare_once[@]}")"
fresh
"${container[@]}" "${mounts[@]}" "${once_env[@]}" "$image" run --once >/dev/null 2>&1
echo "objects the container applied: $(find "$WORK/out" -name '*.yaml' | wc -l) of $OBJECTS"
