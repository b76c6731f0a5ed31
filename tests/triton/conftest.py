"""Triton tests run on CPU tensors under Triton's interpreter (no GPU in CI): set it before triton loads."""

import os

os.environ["TRITON_INTERPRET"] = "1"
