#!/bin/bash
# Downloads the wheels that the lent GPU machine lacks for bench/gpu_check.sh (issue #29 item 5), here where
# PyPI is reachable; bench/gpu_check.sh installs them there offline (that machine has no network).
#
#   bash bench/gpu_wheels.sh            # -> .gpu-wheels/ (git-ignored), cp312 manylinux x86_64 wheels
#   PYVER=3.11 bash bench/gpu_wheels.sh /tmp/w311   # the same set for another Python (a local rehearsal)
#
# Then, with a GPU lent, one call runs the whole check (wheels + repository travel together, 64 MiB at most;
# the run tool carries an ignored folder only when `carry` names it):
#   run(command="bash bench/gpu_check.sh", carry=[".gpu-wheels"], timeout_s=600)
#
# What the set is: what bench/gpu_check.py imports beyond torch, transformers, accelerate, peft, numpy and their own
# dependencies (what a GPU image ships: Python 3.12, torch 2.11+cu130, transformers 5.17, accelerate 1.15, peft).
# Rehearsed here on Python 3.11: a venv holding only torch (CPU), transformers 5.17, accelerate 1.15, peft 0.21 and
# numpy 2 (their pydantic removed too), then
#   PYVER=3.11 bash bench/gpu_wheels.sh /tmp/w311
#   PYTHON=/tmp/img/bin/python GPU_WHEELS=/tmp/w311 bash bench/gpu_check.sh --dry-run   # every check ran
# Versions: .ci/requirements-py$PYVER.lock where it names the package, else the newest.
# bitsandbytes ships one native library per CUDA/ROCm/XPU release (41 MiB in all); only the CUDA releases in
# BNB_CUDA (default "130 132": the image's torch is cu130) and the CPU library are kept (~3.4 MiB per release), so
# that the set fits: on an image whose torch has another CUDA, 4/8-bit eval and QLoRA fail until BNB_CUDA names it
# (BNB_CUDA="128 130": +6.5 MiB). Left out on purpose, none of them imported by the check: datasets, pyarrow (52
# MiB), scipy (34 MiB), evaluate (lm-eval needs them for tasks and metrics, not for its HF model class;
# transformers imports them only when present).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.gpu-wheels}
PYVER=${PYVER:-3.12}
BNB_CUDA=${BNB_CUDA:-"130 132"}
LIMIT_MIB=${LIMIT_MIB:-60}  # the carry cap is 64 MiB for wheels AND the repository (~3 MiB) together
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
LOCK=.ci/requirements-py${PYVER}.lock

# import name : distribution [: lowest version that serves]. gpu_check.sh installs a wheel only where the import
# name is missing or its distribution is older than that (medtune's floors from pyproject.toml; typing_extensions:
# pydantic 2.14 needs 4.16, and torch's own may be older). Everything else the image has stays as it is.
PACKAGES="
duckdb:duckdb:2.0
pandas:pandas:2.1
dateutil:python-dateutil
six:six
pydantic:pydantic:2.0
pydantic_core:pydantic-core
annotated_types:annotated-types
typing_inspection:typing-inspection
typing_extensions:typing-extensions:4.16.0
lm_eval:lm-eval:0.4.13
requests:requests
urllib3:urllib3
idna:idna
certifi:certifi
charset_normalizer:charset-normalizer
bitsandbytes:bitsandbytes:0.50.2
"

pin() {  # name==version from the lock for this Python, else the bare name (newest)
    local v
    v=$(grep -iE "^$1==" "$LOCK" 2>/dev/null | head -1 | sed -E 's/ .*//' || true)
    echo "${v:-$1}"
}

rm -rf "$DEST" && mkdir -p "$DEST/.raw"
platforms=""
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64; do platforms+=" --platform $p"; done
echo "# python $PYVER" > "$DEST/manifest.txt"
for entry in $PACKAGES; do
    IFS=: read -r mod dist min <<< "$entry"
    spec=$(pin "$dist")
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        $platforms -d "$DEST/.raw" "$spec" 2>&1 >/dev/null | { grep -v "is ignored: it is neither" || true; } >&2
    norm=$(echo "$dist" | tr '-' '_' | tr 'A-Z' 'a-z')
    wheel=$(cd "$DEST/.raw" && ls | grep -i "^${norm}-" | head -1)
    [ -n "$wheel" ] || { echo "no wheel found for $spec" >&2; exit 1; }
    mv "$DEST/.raw/$wheel" "$DEST/"
    echo "$mod $wheel${min:+ $min}" >> "$DEST/manifest.txt"
done
rmdir "$DEST/.raw"

# bitsandbytes: keep the CPU library and the CUDA releases in BNB_CUDA; RECORD rewritten to match
bnb=$(grep '^bitsandbytes ' "$DEST/manifest.txt" | cut -d' ' -f2)
"$PY" - "$DEST/$bnb" $BNB_CUDA <<'EOF'
import re, sys, zipfile
path, keep = sys.argv[1], {f"libbitsandbytes_cuda{v}.so" for v in sys.argv[2:]} | {"libbitsandbytes_cpu.so"}
src = zipfile.ZipFile(path)
drop = [n for n in src.namelist() if re.search(r"/libbitsandbytes_\w+\.so$", n) and n.rsplit("/", 1)[1] not in keep]
kept = [n for n in src.namelist() if re.search(r"/libbitsandbytes_\w+\.so$", n) and n not in drop]
missing = keep - {n.rsplit("/", 1)[1] for n in kept}
if missing:
    sys.exit(f"bitsandbytes wheel has no {', '.join(sorted(missing))}")
tmp = path + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
    for info in src.infolist():
        if info.filename in drop:
            continue
        data = src.read(info.filename)
        if info.filename.endswith(".dist-info/RECORD"):
            data = b"".join(l for l in data.splitlines(keepends=True) if l.split(b",")[0].decode() not in drop)
        out.writestr(info, data)
src.close()
import os
os.replace(tmp, path)
print(f"bitsandbytes: kept {', '.join(sorted(k.rsplit('/', 1)[1] for k in kept))}; dropped {len(drop)} other libraries")
EOF

# sizes: the wheels and the repository travel together and must stay under 64 MiB
"$PY" - "$DEST" "$LIMIT_MIB" <<'EOF'
import subprocess, sys
from pathlib import Path
dest, limit = Path(sys.argv[1]), float(sys.argv[2])
total = 0
for line in (dest / "manifest.txt").read_text().splitlines()[1:]:
    wheel = line.split()[1]
    size = (dest / wheel).stat().st_size
    total += size
    print(f"  {size / 2**20:7.2f} MiB  {wheel}")
files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, text=True).stdout
repo = sum(Path(f).stat().st_size for f in files.split("\0") if f and Path(f).is_file())
print(f"  {total / 2**20:7.2f} MiB  wheels in all ({dest}); the repository adds {repo / 2**20:.2f} MiB: "
      f"{(total + repo) / 2**20:.2f} MiB of the 64 MiB a call carries")
if total / 2**20 > limit:
    sys.exit(f"the wheels take {total / 2**20:.1f} MiB, over LIMIT_MIB={limit:g}")
EOF
