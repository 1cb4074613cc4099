"""Kernel tests run on the CPU through Triton's interpreter; it must be switched on before triton is imported."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
