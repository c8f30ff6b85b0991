#!/usr/bin/env bash
# A shipped recipe (RECIPE, default unet-studio: the photos' default) on the GPU machine
# (KERAS_BACKEND=jax), run by the device tool over a copy of this checkout with .device/
# carried (see scripts/pack_for_device.py; pack with --recipe RECIPE for an encoder
# recipe, whose ImageNet weights are converted there by that machine's torch). Writes the
# run folder and its log to $OUT, which comes back. One run; resumes if rerun.
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
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# the library call behind `filmcolor train` (the CLI would import PyAV, absent there);
# the same recipe as here; EPOCHS can be raised on the GPU
python3 - "$OUT/run" "${EPOCHS:-40}" "${RECIPE:-unet-studio}" "$DEVICE/corpus" "${SMOKE:-0}" \
    <<'PY' 2>&1 | tee "$OUT/train.log"
import sys, time
from filmcolor.models import import_keras
import_keras()
from filmcolor.train import recipe_config, train
t = time.time()
smoke = dict(steps_per_epoch=2, batch_size=4) if sys.argv[5] == "1" else {}
cfg = recipe_config(sys.argv[3], data=sys.argv[4], out=sys.argv[1], epochs=int(sys.argv[2]),
                    **smoke)
train(cfg)
crops = cfg.epochs * cfg.steps_per_epoch * cfg.batch_size
print(f"{crops} crops in {time.time() - t:.0f} s: {crops / (time.time() - t):.1f} crops/s")
PY
