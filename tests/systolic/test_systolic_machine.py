import json

import pytest

from graphc.backends.systolic.machine import DEFAULT, TPU_V1, Machine, load_machine, parse_array, resolve_machine
from graphc.errors import GraphcError


def test_presets():
    assert (DEFAULT.rows, DEFAULT.cols, DEFAULT.dataflow) == (128, 128, "ws")
    assert (TPU_V1.rows, TPU_V1.cols, TPU_V1.dataflow, TPU_V1.clock_hz) == (256, 256, "ws", 700e6)


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('preset = "tpu_v1"\ndataflow = "os"\ndram_bytes_per_cycle = 16\n')
    m = resolve_machine(str(path), array="32x64", dataflow="is")
    assert (m.rows, m.cols, m.dataflow, m.dram_bytes_per_cycle, m.unified_buffer_bytes) == (32, 64, "is", 16.0, TPU_V1.unified_buffer_bytes)
    jpath = tmp_path / "m.json"
    jpath.write_text(json.dumps({"rows": 8, "cols": 8}))
    assert load_machine(str(jpath)).rows == 8
    assert Machine.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(
    "text, message",
    [
        ('rows = 0\n', "at least 1x1"),
        ('dataflow = "xs"\n', "dataflow must be one of"),
        ('colour = 3\n', "unknown machine fields colour"),
        ('rows = "many"\n', "field 'rows' must be int"),
        ('preset = "tpu_v9"\n', "unknown preset"),
        ('rows = [\n', "not a valid config file"),
        ('accumulator_bytes = 16\n', "accumulator_bytes must hold"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(GraphcError, match=message) as err:
        load_machine(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_array_spec():
    assert parse_array("8X16") == (8, 16)
    with pytest.raises(GraphcError, match="ROWSxCOLS"):
        parse_array("128")
    with pytest.raises(GraphcError, match="cannot read"):
        load_machine("/nonexistent/m.toml")
