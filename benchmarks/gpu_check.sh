#!/usr/bin/env bash
# GPU check, ready to run: every registered model (runtime.models, the plugins' included) with every backend and
# precision the registry lists for CUDA, built by the project's own loaders with random or packaged weights
# (nothing is downloaded). One row per (model, backend, precision): ok / skipped: why / FAILED: error, the
# throughput (images/s, texts/s, captions/s, faces/s; real-time factor for speech) and the difference to the
# model's eager fp32 reference on the same device and inputs. At most about 5 minutes on one CUDA GPU: the slow
# builds (TensorRT, torch.compile) run last, and rows still waiting after --budget SECONDS (default 290) are
# reported skipped.
#
#   benchmarks/gpu_check.sh                    # on a CUDA machine
#   benchmarks/gpu_check.sh --dry              # the same code paths on the CPU, tiny sizes (1.5-2 minutes)
#   benchmarks/gpu_check.sh --list             # only list the rows it would run, and why others are skipped
#   benchmarks/gpu_check.sh --only clip-image,whisper --seconds 5 --json
#
# Exit status: 0 all rows ok or skipped, 1 a row FAILED, 2 no CUDA device (without --dry).
# Details: benchmarks/gpu_check.py and docs/runtime.md ("GPU check").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -x .venv/bin/python ]]; then
    python=.venv/bin/python
else
    python=python3
fi
exec "$python" benchmarks/gpu_check.py "$@"
