#!/bin/bash
# The one-GPU check (issues #16 and #29 item 5), one call on a lent GPU machine, within 8 minutes on an H100/H200:
# random-init ~1B Llama; native vs lm-eval multiple-choice scoring (q/s, ratio, same chosen options); generation
# tokens/s; medtune tune (full) vs a plain HF Trainer (tokens/s, MFU); LoRA and QLoRA tuning steps through
# medtune's own tuning path; 4-bit and 8-bit (bitsandbytes) eval through the hf-causal backend; the dtype actually
# used (bf16). Each figure is printed with PASS/FAIL/SKIP, then a summary; exit 1 if any check failed.
#
#   bash bench/gpu_wheels.sh            # HERE, once (needs PyPI): the wheels the GPU image lacks -> .gpu-wheels/
#   run(command="bash bench/gpu_check.sh", carry=[".gpu-wheels"], timeout_s=600)   # the lent GPU, one call
#   bash bench/gpu_check.sh --dry-run   # tiny sizes on CPU: checks the script end to end
#
# On the GPU machine (no network) it first installs, offline and without dependencies, the wheels of .gpu-wheels/
# whose package is not importable there or older than medtune needs (into the environment; where pip may not write
# there, e.g. an externally managed Python, into a temporary folder on PYTHONPATH), then `pip install --no-deps -e .`
# (optional: the check also runs from the repository), then checks the imports and names anything missing and what
# it skips. Figures go to $OUT/gpu_check.json (or ./gpu_check.json), rewritten after each check.
# Environment: PYTHON (interpreter), GPU_WHEELS (wheel folder, default .gpu-wheels), GPU_SITE (install into
# this --target folder instead of the environment; a dry run always uses such a folder, never the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
WHEELS=${GPU_WHEELS:-.gpu-wheels}
DRY=0
for arg in "$@"; do [ "$arg" = "--dry-run" ] && DRY=1; done
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error

site_install() {  # pip install --target $1 of the wheels in $2..; wheels unzipped as the last resort (no pip)
    local site=$1; shift
    mkdir -p "$site"
    if ! timeout 240 "$PY" -m pip install -q --no-index --no-deps --disable-pip-version-check \
            --target "$site" "$@"; then
        echo "pip --target failed: unzipping the wheels into $site"
        for w in "$@"; do "$PY" -m zipfile -e "$w" "$site"; done
    fi
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
}

# installs happen on the GPU machine (or, in a dry run, into a throw-away --target folder), never in a dev venv
GPU=0
if [ "$DRY" = 0 ] && "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then GPU=1; fi
if [ "$DRY" = 0 ] && [ "$GPU" = 0 ]; then
    echo "wheels: no CUDA device here: nothing installed"
elif [ -f "$WHEELS/manifest.txt" ]; then
    # manifest.txt: "# python X.Y" then "<import name> <wheel file> [lowest version]" lines (bench/gpu_wheels.sh)
    want=$(sed -n 's/^# python //p' "$WHEELS/manifest.txt")
    have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ -n "$want" ] && [ "$want" != "$have" ]; then
        echo "wheels: $WHEELS holds wheels for Python $want; this is $have: not installing them"
    else
        missing=$("$PY" - "$WHEELS/manifest.txt" <<'EOF'
import importlib.metadata, importlib.util, sys
def older(have, floor):
    try:
        from packaging.version import Version
        return Version(have) < Version(floor)
    except Exception:  # no packaging, or a version it cannot parse: keep what is there
        return False
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith("#"):
        mod, wheel, *floor = line.split()  # "<import name> <wheel> [lowest version that serves]"
        if importlib.util.find_spec(mod) is None:
            print(wheel)
        elif floor:
            try:
                have = importlib.metadata.version(wheel.split("-")[0])
            except importlib.metadata.PackageNotFoundError:
                have = None
            if have is None or older(have, floor[0]):
                print(wheel)
                print(f"  {mod} {have} is older than {floor[0]}: replaced", file=sys.stderr)
EOF
)
        if [ -z "$missing" ]; then
            echo "wheels: every package of $WHEELS is importable here already: nothing to install"
        else
            files=(); for w in $missing; do files+=("$WHEELS/$w"); done
            echo "wheels: installing offline, without dependencies: ${missing//$'\n'/ }"
            if [ -n "${GPU_SITE:-}" ] || [ "$DRY" = 1 ]; then
                site_install "${GPU_SITE:-$(mktemp -d)}" "${files[@]}"
            elif ! timeout 240 "$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps \
                    --disable-pip-version-check "${files[@]}"; then
                site=$(mktemp -d)
                echo "wheels: pip cannot install into $PY's environment here: into $site (PYTHONPATH) instead"
                site_install "$site" "${files[@]}"
            fi
        fi
    fi
elif [ "$DRY" = 0 ]; then
    echo "wheels: no $WHEELS/manifest.txt (bash bench/gpu_wheels.sh makes it; carry=[\"$WHEELS\"] brings it)"
fi

if [ "$GPU" = 1 ] && ! "$PY" -c 'import importlib.metadata as m; m.version("medtune")' 2>/dev/null; then
    if timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --disable-pip-version-check \
            -e . >/dev/null 2>&1; then
        echo "medtune: pip install --no-deps -e . done"
    else
        echo "medtune: not pip-installed here (pip -e . refused offline); the check runs it from the repository"
    fi
fi

# what the check imports: a missing one names the checks it costs (they then FAIL, or SKIP in a dry run)
"$PY" - "$WHEELS/manifest.txt" <<'EOF' || echo "imports: the import check itself failed (see above); running the check anyway"
import importlib, logging, sys
from pathlib import Path
sys.path.insert(0, ".")
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)  # an optional hub kernel package
needs = {"torch": "everything", "transformers": "everything", "accelerate": "everything", "peft": "LoRA, QLoRA",
         "numpy": "everything", "duckdb": "tuning (the variant store)", "pandas": "tuning (harness.store)",
         "pydantic": "tuning (recipes)", "lm_eval.models.huggingface": "the lm-eval side of multiple choice",
         "bitsandbytes": "QLoRA, 4-bit and 8-bit eval", "harness.models.hf_causal": "everything",
         "tuning.train": "tuning"}
manifest = Path(sys.argv[1])
if manifest.exists():
    needs.update({l.split()[0]: "(a carried wheel)" for l in manifest.read_text().splitlines()
                  if l.strip() and not l.startswith("#") and l.split()[0] not in needs})
found, missing = [], []
for mod, what in needs.items():
    try:
        importlib.import_module(mod)
        top = sys.modules[mod.split(".")[0]]
        found.append(f"{mod} {getattr(top, '__version__', '')}".strip())
    except Exception as exc:  # ImportError, or a native library that does not load
        first = (str(exc).splitlines() or [""])[0]
        missing.append(f"{mod} ({type(exc).__name__}: {first}) -> skips {what}")
print("imports: " + ", ".join(found))
print("MISSING: " + "; ".join(missing) if missing else "imports: every package the check needs is importable")
EOF

exec timeout 450 "$PY" bench/gpu_check.py --out "${OUT:-.}/gpu_check.json" "$@"
