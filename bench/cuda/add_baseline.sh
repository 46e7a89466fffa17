#!/bin/bash
# Adds an earlier commit's bench kernels to .gen/cuda as extra contestants, for an A/B of the
# emitted code in one device run (run here, after `node dist/bench/cuda/cases.js`):
#   bash bench/cuda/add_baseline.sh 2c90fa5 flux_4096,flux_8192,hunyuan_720p
# Each selected bench case of COMMIT is copied to .gen/cuda/bench/<case>_old with a manifest row whose
# name ends in _old and whose variant is "old", so run.py times it beside this tree's kernels.
# The commit is built in a scratch worktree (removed after) with this checkout's node_modules.
set -euo pipefail
commit=${1:?usage: add_baseline.sh COMMIT SELECT}
select=${2:?usage: add_baseline.sh COMMIT SELECT (comma list of case-name substrings)}
root=$(git rev-parse --show-toplevel)
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git -C "$root" worktree add --detach "$scratch/tree" "$commit" >/dev/null
ln -s "$root/node_modules" "$scratch/tree/node_modules"
(cd "$scratch/tree" && npx tsc -p . && node dist/bench/cuda/cases.js >/dev/null)
python3 - "$scratch/tree/.gen/cuda" "$root/.gen/cuda" "$select" <<'EOF'
import json, os, shutil, sys
old_root, new_root, select = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
manifest_path = os.path.join(new_root, "manifest.json")
manifest = [c for c in json.load(open(manifest_path)) if c.get("variant") != "old"]
added = 0
for c in json.load(open(os.path.join(old_root, "manifest.json"))):
    if c["kind"] != "bench" or not any(s in c["name"] for s in select):
        continue
    src = os.path.join(old_root, "bench", os.path.basename(c["dir"]))
    dst = os.path.join(new_root, "bench", os.path.basename(c["dir"]) + "_old")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    # run.py reads dirs relative to the repository root, as cases.ts writes them
    manifest.append(dict(c, name=c["name"] + "_old", dir=os.path.join(".gen/cuda/bench", os.path.basename(dst)), variant="old"))
    added += 1
json.dump(manifest, open(manifest_path, "w"), indent=1)
print(f"added {added} baseline cases from {sys.argv[1]}")
EOF
