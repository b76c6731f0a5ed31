"""lit configuration: every `.mlir` file here is a FileCheck specification of a pass.

Run with `lit tests/filecheck` (or through pytest: tests/fusion/test_filecheck.py). Each file's
`// RUN:` line pipes `graphc opt` into `filecheck`; both are console scripts installed next to
the Python that runs lit, so that folder goes first on PATH.
"""

import os
import sys
import tempfile

import lit.formats

config.name = "graphc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(tempfile.gettempdir(), "graphc-lit")  # keep lit's Output/ out of the tree
config.excludes = ["lit.cfg.py"]
scripts = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
for key in ("HOME", "PYTHONPATH", "VIRTUAL_ENV"):
    if key in os.environ:
        config.environment[key] = os.environ[key]
