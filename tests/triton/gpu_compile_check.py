"""Compiles every Triton kernel of triton artifacts ahead of time for a CUDA GPU; prints failures.

    python gpu_compile_check.py A.gcx [B.gcx ...]      # exit 1 if any kernel fails

Triton's CUDA pipeline (TTIR → TTGIR → LLVM → PTX → cubin for sm_80) runs without a GPU (Triton
ships ptxas), at each kernel's GPU heuristic block sizes, the way the executor launches it there.
Run in a process without TRITON_INTERPRET: triton imported in interpreter mode cannot compile.
"""

import hashlib
import importlib.util
import os
import sys

POINTER_TYPES = {"float32": "*fp32", "float16": "*fp16", "bfloat16": "*bf16", "float64": "*fp64", "bool": "*i1",
                 "int8": "*i8", "int16": "*i16", "int32": "*i32", "int64": "*i64", "uint8": "*u8", "uint16": "*u16",
                 "uint32": "*u32", "uint64": "*u64"}  # fmt: skip


def compile_for_gpu(artifact, folder: str) -> list[str]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", 80, 32)
    meta, failures, seen = artifact.meta, [], set()
    for k in meta["kernels"]:
        if k["template"] == "fallback" or k["source"] in seen:
            continue
        seen.add(k["source"])
        source = artifact.sections[k["source"]]
        name = f"graphc_gpu_check_{hashlib.sha256(source).hexdigest()[:20]}"
        path = os.path.join(folder, name + ".py")
        with open(path, "wb") as f:
            f.write(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fn = getattr(module, k["function"])
        dtypes = [meta["slots"][a]["dtype"] for a in k["args"] + k["results"]] + [t["dtype"] for t in k["tables"]]
        pointers = [n for n in fn.arg_names if n.endswith("_ptr")]
        signature = {n: POINTER_TYPES[d] for n, d in zip(pointers, dtypes)}
        signature.update({n: "constexpr" for n in fn.arg_names if n not in signature})
        try:
            triton.compile(ASTSource(fn, signature=signature, constexprs=dict(k["blocks"])), target=target)
        except Exception as err:  # report every kernel, not only the first
            failures.append(f"{k['name']} ({k['template']}): {type(err).__name__}: {str(err).strip()[-300:]}")
    return failures


def main(paths: list[str]) -> int:
    import tempfile

    from graphc.runtime.artifact import Artifact

    assert "TRITON_INTERPRET" not in os.environ
    failures = []
    with tempfile.TemporaryDirectory() as folder:
        for path in paths:
            failures += [f"{os.path.basename(path)}: {f}" for f in compile_for_gpu(Artifact.load(path), folder)]
    print("\n".join(failures) or "all kernels compiled")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
