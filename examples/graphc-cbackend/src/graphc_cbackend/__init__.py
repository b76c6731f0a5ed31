"""graphc-cbackend: an example graphc backend that emits C and builds it with the system `cc`.

`graphc compile MODEL --target c` → an artifact holding the C source (`kernels.c`) and the shared
library built from it (`kernels.so`); `graphc_cbackend.executor:CExecutor` loads it with ctypes.
"""

from graphc_cbackend.backend import CBackend

__all__ = ["CBackend"]
