#!/usr/bin/env python3
# Usage: benches/scripts/publish-cost-packs.py M GENERATIONS PATH/TO/cairn [WORK_DIR] [compressible]
"""Publish cost per change with snapshot packs, amortized over 100 generations.

M ConfigMaps, generation 1, then 100 publishes each changing one more object (a different one
each time, so the delta from the snapshot pack grows by one object per publish). Every byte the store holds at the end was written once (content-addressed objects, log
entries); heads are rewritten per publish and counted once per generation. The heads' `packs`
tell which pack files are snapshot-pack shards and which delta packs start from the snapshot
pack's snapshot rather than from one of the last 8 snapshots (the bridges, written every 9
publishes and named by the heads in between): those are what snapshot packs add to a publish;
the rest is what a publish wrote before them (blobs, index nodes, snapshot roots,
log entries and heads, delta packs from the last 8 snapshots).
"""
import hashlib, json, os, subprocess, sys

M = int(sys.argv[1]); GENS = int(sys.argv[2]); CAIRN = os.path.abspath(sys.argv[3])
work = os.path.abspath(sys.argv[4] if len(sys.argv) > 4 else f"publish-cost-m{M}")
os.makedirs(work + "/m", exist_ok=True)
# Object data as incompressible as real manifests' (hex of hashes), about 0.5 KB per object; or,
# with `compressible`, a 380-byte run of one letter.
if len(sys.argv) > 5 and sys.argv[5] == "compressible":
    filler = lambda i: "abcdefghijklmnopqrstuvwxyz"[i % 26] * 380
else:
    filler = lambda i: ''.join(hashlib.sha256(f'{i}-{k}'.encode()).hexdigest() for k in range(6))[:380]
values = ["v0"] * M
def write(value, changed=None):
    if changed is not None: values[changed] = value
    with open(work + "/m/cms.yaml", "w") as f:
        for i in range(M):
            v = values[i]
            f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:05d}, namespace: team-{i % 7}}}\ndata: {{key: {v}, index: '{i}', filler: '{filler(i)}'}}\n")
run = lambda *a: subprocess.run([CAIRN, *a], cwd=work, check=True, capture_output=True, env={**os.environ, "CAIRN_CACHE_DIR": work + "/.cache"})
run("keygen", "--out", "hub.key")
write("v0"); run("publish", "--store", "store", "--channel", "prod", "--key", "hub.key", "m")
size = lambda root: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
base = size(work + "/store")
for g in range(1, GENS + 1):
    write(f"v{g}", changed=(g * 7919) % M); run("publish", "--store", "store", "--channel", "prod", "--key", "hub.key", "m")
total = size(work + "/store") - base
logdir = work + "/store/channels/prod/log"
heads = {}
for name in os.listdir(logdir):
    doc = json.load(open(os.path.join(logdir, name)))
    head = doc.get("head", doc)
    heads[head["generation"]] = head
shards, extra_deltas = {}, {}
snaps = {g: h["snapshot"] for g, h in heads.items()}
for g, h in sorted(heads.items()):
    if g == 1: continue
    packs = h.get("packs", {})
    sp = packs.get("snapshot")
    if sp:
        for s in sp["shards"]: shards[s["digest"]] = s["bytes"]
    recent = {snaps[x] for x in range(max(1, g - 8), g)}
    for d in packs.get("deltas", []):
        if d["from"] not in recent: extra_deltas[d["digest"]] = d["bytes"]
# shards written at generation 1 are part of the base
first = heads[1].get("packs", {}).get("snapshot")
for s in (first["shards"] if first else []): shards.pop(s["digest"], None)
extra = sum(shards.values()) + sum(extra_deltas.values())
head_bytes = sum(len(json.dumps(h)) for g, h in heads.items() if g > 1)  # rewrites of the head object
before = total - extra + head_bytes
after = total + head_bytes
bridged = sum(1 for g, h in heads.items() if h.get("packs", {}).get("bridge"))
print(json.dumps({"M": M, "generations": GENS, "heads_naming_a_bridge": bridged, "bytes_after_per_publish": after / GENS,
  "snapshot_pack_bytes": sum(shards.values()), "snapshot_pack_rewrites": len(shards),
  "deltas_from_pack_bytes": sum(extra_deltas.values()),
  "bytes_before_per_publish": before / GENS, "ratio": after / before}))
