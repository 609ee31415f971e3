"""Loading serve targets and their options, in process, without starting a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labthings import LabThing
from labthings.serving.targets import TargetError, load_labthing, read_options

FACTORY = """
from labthings import LabThing

def make_labthing(title="default", port="sim://stage"):
    lab = LabThing(title=f"{title} on {port}")
    return lab

labthing = make_labthing()
not_a_lab = 3
"""


@pytest.fixture
def target_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab_target_for_cli.py"
    path.write_text(FACTORY, encoding="utf-8")
    return path


def test_instance_and_factory_targets(target_file: Path) -> None:
    assert load_labthing(f"{target_file}:labthing").title == "default on sim://stage"
    assert load_labthing(f"{target_file}").title == "default on sim://stage"
    made = load_labthing(f"{target_file}:make_labthing", {"port": "/dev/ttyUSB0"})
    assert isinstance(made, LabThing) and made.title == "default on /dev/ttyUSB0"


def test_options_need_a_factory_that_takes_them(target_file: Path) -> None:
    with pytest.raises(TargetError, match="not a factory"):
        load_labthing(f"{target_file}:labthing", {"port": "x"})
    with pytest.raises(TargetError, match="cannot call"):
        load_labthing(f"{target_file}:make_labthing", {"nope": "x"})
    with pytest.raises(TargetError, match="not a LabThing"):
        load_labthing(f"{target_file}:not_a_lab")


def test_read_options_merges_config_and_pairs(tmp_path: Path) -> None:
    config = tmp_path / "lab.json"
    config.write_text(json.dumps({"port": "COM3", "title": "Lab A"}), encoding="utf-8")
    assert read_options(str(config), ["port=/dev/ttyUSB1"]) == {
        "port": "/dev/ttyUSB1",
        "title": "Lab A",
    }
    assert read_options(None, []) == {}


@pytest.mark.parametrize("pair", ["noequals", "=value", "bad-key=1"])
def test_bad_option_pairs(pair: str) -> None:
    with pytest.raises(TargetError, match="KEY=VALUE"):
        read_options(None, [pair])


@pytest.mark.parametrize(("content", "message"), [("[1, 2]", "JSON object"), ("{", "cannot read")])
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(TargetError, match=message):
        read_options(str(config), [])
    with pytest.raises(TargetError, match="cannot read"):
        read_options(str(tmp_path / "missing.json"), [])
