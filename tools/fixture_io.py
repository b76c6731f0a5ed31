"""Writing fixture files byte-reproducibly (shared by the fixture generators in `tools/`).

`NAME.npz` with fixed zip timestamps and `NAME.json` with lists of scalars kept on one line, the
format `graphc.testing.load_fixture` reads. numpy only: the generators run in their own venvs.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed equivalent with fixed zip timestamps (byte-reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2)
    # Lists of scalars on one line: "shape": [-1, 20] rather than one item per line.
    text = re.sub(
        r"\[([^\[\]{}]*)\]",
        lambda m: "[" + " ".join(item.strip() for item in m.group(1).split("\n") if item.strip()) + "]",
        text,
    )
    path.write_text(text + "\n")
