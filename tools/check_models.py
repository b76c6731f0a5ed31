#!/usr/bin/env python3
"""Compile every model in a fixture-format folder with graphc and compare with the stored outputs.

    python tools/check_models.py /tmp/graphc-zoo [--target cpu --target reference] [NAME ...]

Prints one line per model and target: kernels, compile seconds, and OK or what differs.
Exit status 1 if any model fails. Made for the held-out Keras families of tools/make_keras_zoo.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import graphc
from graphc.testing import compare_outputs, load_fixture


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--target", action="append", default=None)
    args = parser.parse_args()
    targets = args.target or ["cpu", "reference"]
    names = args.names or sorted(f[:-3] for f in os.listdir(args.folder) if f.endswith(".pb"))
    failures = 0
    for name in names:
        fixture = load_fixture(os.path.join(args.folder, name))
        for target in targets:
            start = time.perf_counter()
            try:
                model = graphc.compile(fixture.model_path, target=target, input_shapes=fixture.input_shapes)
                seconds = time.perf_counter() - start
                problems = compare_outputs(model.run(fixture.inputs), fixture.outputs)
                status = "OK" if not problems else "MISMATCH " + "; ".join(problems)
                kernels = len(model.artifact.schedule)
            except Exception as err:  # report and go on to the next model
                seconds, kernels, problems = time.perf_counter() - start, 0, [str(err)]
                status = f"ERROR {type(err).__name__}: {' '.join(str(err).split())[:300]}"
            failures += bool(problems)
            print(f"{name:24s} {target:9s} kernels={kernels:4d} compile={seconds:6.2f}s {status}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
