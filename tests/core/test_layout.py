"""The package layout keeps its promises: the core never imports Flask or an HTTP server,
and labthings and the drivers in `devices` never import each other."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(60)
def test_no_module_of_the_core_imports_flask_or_a_server() -> None:
    code = (
        "import importlib, pkgutil, sys, labthings, labthings.core, labthings.fields\n"
        "for module in pkgutil.walk_packages(labthings.core.__path__, 'labthings.core.'):\n"
        "    importlib.import_module(module.name)\n"
        "loaded = [name for name in ('flask', 'werkzeug', 'granian') if name in sys.modules]\n"
        "assert not loaded, f'the core imported {loaded}'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=50
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("package", "other"),
    # Code that wraps drivers registers how their errors map to HTTP (error_statuses).
    [("devices", "labthings"), ("labthings", "devices")],
)
def test_labthings_and_devices_never_import_each_other(package: str, other: str) -> None:
    imports_other = re.compile(rf"^\s*(from|import) {other}\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if imports_other.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
