#!/bin/sh
# Make a separate venv with SCALE-Sim 3 (PyPI `scalesim`) for tools/scalesim_compare.py.
# SCALE-Sim crashes with numpy 2.x, so it never becomes a graphc dependency: it lives here alone.
# Usage: tools/scalesim_venv.sh [VENV_DIR]   (default: ./.venv-scalesim)
set -eu
venv="${1:-.venv-scalesim}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet scalesim "numpy==1.26.4" "pandas==2.3.3"
"$venv/bin/python" -c "import scalesim, numpy; print('scalesim ok, numpy', numpy.__version__)"
echo "$venv"
