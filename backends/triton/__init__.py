"""The triton backend: every fusion region as one Triton kernel (see `backend.py`)."""
