"""The systolic-array machine description: what `--target systolic` compiles for and the simulator models.

A `Machine` is plain data (a frozen dataclass): array rows × columns, dataflow (weight-, output- or
input-stationary), the three on-chip SRAMs (unified buffer for activations, weight buffer, int32
accumulators), DRAM bandwidth in bytes per cycle, and the clock. `TPU_V1` is a TPUv1-like preset;
`DEFAULT` is a 128×128 weight-stationary array. `load_machine(path)` reads a JSON or TOML file whose
keys are the field names (any subset; `preset = "tpu_v1"` starts from that preset). The description
travels in the artifact's manifest (`to_dict`/`from_dict`), so the runtime simulates the machine the
program was compiled for.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

from graphc.errors import GraphcError

DATAFLOWS = ("ws", "os", "is")
KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Machine:
    rows: int = 128
    cols: int = 128
    dataflow: str = "ws"
    """ws: weights stay in the PEs, activations stream; os: outputs stay, both operands stream;
    is: input activations stay, weights stream."""
    unified_buffer_bytes: int = 8 * MIB
    """int8 activations (im2col tiles in, requantized outputs out)."""
    weight_buffer_bytes: int = 1 * MIB
    """int8 weight tiles read from DRAM."""
    accumulator_bytes: int = 2 * MIB
    """int32 partial sums (4 bytes each)."""
    dram_bytes_per_cycle: float = 32.0
    clock_hz: float = 700e6
    name: str = "systolic-128x128"

    def __post_init__(self) -> None:
        problems = []
        if self.rows < 1 or self.cols < 1:
            problems.append(f"array must be at least 1x1, got {self.rows}x{self.cols}")
        if self.dataflow not in DATAFLOWS:
            problems.append(f"dataflow must be one of {', '.join(DATAFLOWS)}, got '{self.dataflow}'")
        for field in ("unified_buffer_bytes", "weight_buffer_bytes", "accumulator_bytes"):
            if getattr(self, field) <= 0:
                problems.append(f"{field} must be positive")
        if self.accumulator_bytes < 4 * self.rows * self.cols:
            problems.append(f"accumulator_bytes must hold at least one {self.rows}x{self.cols} int32 tile")
        if self.weight_buffer_bytes < self.rows * self.cols:
            problems.append(f"weight_buffer_bytes must hold at least one {self.rows}x{self.cols} int8 tile")
        if self.dram_bytes_per_cycle <= 0 or self.clock_hz <= 0:
            problems.append("dram_bytes_per_cycle and clock_hz must be positive")
        if problems:
            raise GraphcError("systolic machine: " + "; ".join(problems))

    @property
    def accumulator_entries(self) -> int:
        return self.accumulator_bytes // 4

    def with_options(self, array: str | None = None, dataflow: str | None = None) -> Machine:
        """This machine with `--systolic-array RxC` and `--dataflow` applied (unset ones unchanged)."""
        changes: dict = {}
        if array:
            changes["rows"], changes["cols"] = parse_array(array)
            changes["name"] = f"systolic-{changes['rows']}x{changes['cols']}"
        if dataflow:
            changes["dataflow"] = dataflow
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "systolic config") -> Machine:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        data = dict(data)
        base = PRESETS.get(str(data.pop("preset", "default")).lower())
        if base is None:
            raise GraphcError(f"unknown preset (known: {', '.join(PRESETS)})", source=source)
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise GraphcError(f"unknown machine fields {', '.join(unknown)} (known: {', '.join(fields)})", source=source)
        typed = {}
        for key, value in data.items():
            kind = fields[key].type
            try:
                typed[key] = {"int": int, "float": float, "str": str}[kind](value)
            except (TypeError, ValueError):
                raise GraphcError(f"field '{key}' must be {kind}, got {value!r}", source=source) from None
        try:
            return dataclasses.replace(base, **typed)
        except GraphcError as err:
            raise GraphcError(str(err), source=source) from None


DEFAULT = Machine()
TPU_V1 = Machine(
    rows=256,
    cols=256,
    dataflow="ws",
    unified_buffer_bytes=24 * MIB,
    weight_buffer_bytes=256 * KIB,  # the weight FIFO: four 64 KiB tiles
    accumulator_bytes=4 * MIB,
    dram_bytes_per_cycle=34e9 / 700e6,  # 34 GB/s DDR3 at 700 MHz
    clock_hz=700e6,
    name="tpu-v1",
)
PRESETS = {"default": DEFAULT, "tpu_v1": TPU_V1}


def parse_array(spec: str) -> tuple[int, int]:
    """`128x128` → (128, 128)."""
    parts = spec.lower().split("x")
    try:
        rows, cols = (int(p) for p in parts)
    except ValueError:
        raise GraphcError(f"--systolic-array '{spec}' must look like ROWSxCOLS, e.g. 128x128") from None
    if rows < 1 or cols < 1:
        raise GraphcError(f"--systolic-array '{spec}': rows and columns must be positive")
    return rows, cols


def load_machine(path: str) -> Machine:
    """A machine from a JSON (`.json`) or TOML (any other suffix) file of `Machine` field names."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise GraphcError(f"cannot read the systolic config ({err.strerror})", source=path) from None
    try:
        if os.path.splitext(path)[1].lower() == ".json":
            data = json.loads(raw)
        else:
            import tomllib

            data = tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as err:
        raise GraphcError(f"not a valid config file ({str(err).splitlines()[0]})", source=path) from None
    if not isinstance(data, dict):
        raise GraphcError("the config must be a table of machine fields", source=path)
    return Machine.from_dict(data, source=path)


def resolve_machine(config: str | None = None, array: str | None = None, dataflow: str | None = None) -> Machine:
    """The machine for `--systolic-config FILE --systolic-array RxC --dataflow D` (flags win over the file)."""
    base = load_machine(config) if config else DEFAULT
    return base.with_options(array, dataflow)
