#!/usr/bin/env bash
# Shipped recipes on the GPU machine (KERAS_BACKEND=jax), run by the device tool over a copy
# of this checkout with .device/ carried (see scripts/pack_for_device.py; pack with --recipe
# for each encoder recipe, whose ImageNet weights are converted there by that machine's
# torch). One command, one call:
#
#   RUNS="lite0-ema=lite0-unet,ema=0.995 lite1=lite1-unet" DEADLINE=480 \
#       bash scripts/train_on_device.sh
#
# RUNS: NAME=RECIPE[,FIELD=VALUE...] (TrainConfig fields on top of the recipe), trained in
# parallel (default: run=$RECIPE, RECIPE default unet-studio, the photos' default), each
# into $WORK/NAME and stopped after DEADLINE seconds if set (its best.keras so far is kept;
# rerun to resume). What comes back fits the tool's limits (8 files of 16 MiB): $OUT/logs.tgz
# (each run's log, log.csv and train.json, the frozen phase's too) and each run's best.keras
# in 15 MiB parts $OUT/NAME.keras.partNN; here: cat NAME.keras.part* > NAME.keras.
# DEVICE (default .device) is the folder pack_for_device.py wrote. SMOKE=1 is the CI check
# (tests/test_scripts_data.py) on a CPU whose Python has keras: no wheels are installed
# (pack with --no-wheels) and each epoch is 2 steps of 4 crops; with EPOCHS=1, seconds.
set -euo pipefail
DEVICE=${DEVICE:-.device}
if [ "${SMOKE:-0}" != 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$DEVICE"/whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
OUT=${OUT:-runs/device}
WORK=${WORK:-/tmp/device-runs}
RUNS=${RUNS:-run=${RECIPE:-unet-studio}}
read -ra runs <<<"$RUNS"
# JAX takes 75% of the GPU per process unless told: share it between the runs
XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / ${#runs[@]}, 3))")
export XLA_PYTHON_CLIENT_MEM_FRACTION
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
mkdir -p "$WORK" "$OUT"
pids=()
for spec in "${runs[@]}"; do
    name=${spec%%=*}
    # the library call behind `filmcolor train` (the CLI would import PyAV, absent there)
    ${DEADLINE:+timeout "$DEADLINE"} python3 - "$WORK/$name" "${spec#*=}" "$DEVICE/corpus" \
        "${SMOKE:-0}" "${EPOCHS:-}" <<'PY' >"$WORK/$name.log" 2>&1 &
import sys, time
from dataclasses import fields
from filmcolor.models import import_keras
import_keras()
from filmcolor.recipes import TrainConfig
from filmcolor.train import recipe_config, train
out, spec, data, smoke, epochs = sys.argv[1:]
recipe, *pairs = spec.split(",")
types = {f.name: type(f.default) for f in fields(TrainConfig)}
overrides = {k: types[k](v) for k, v in (p.split("=", 1) for p in pairs)}
if smoke == "1":
    overrides.update(steps_per_epoch=2, batch_size=4)
if epochs:
    overrides["epochs"] = int(epochs)
t = time.time()
cfg = recipe_config(recipe, data=data, out=out, **overrides)
train(cfg)
crops = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size
print(f"{crops} crops in {time.time() - t:.0f} s: {crops / (time.time() - t):.1f} crops/s")
PY
    pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if [ "$rc" = 124 ]; then
        echo "${runs[$i]}: stopped at the deadline (${DEADLINE} s)" >&2
    elif [ "$rc" != 0 ]; then
        echo "${runs[$i]}: exit $rc" >&2
        status=1
    fi
done
for spec in "${runs[@]}"; do
    name=${spec%%=*}
    tail -n 3 "$WORK/$name.log" | sed "s/^/$name: /"
    if [ -f "$WORK/$name/best.keras" ]; then
        split -b 15M -d "$WORK/$name/best.keras" "$OUT/$name.keras.part"
    fi
done
(cd "$WORK" && find . -maxdepth 3 \( -name '*.log' -o -name log.csv -o -name train.json \) \
    -print0 | tar -czf "$OUT/logs.tgz" --null -T -)
exit $status
