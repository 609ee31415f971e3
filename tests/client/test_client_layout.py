"""The client is importable without the server's web stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
_FORBIDDEN = re.compile(
    r"^\s*(from|import) (labthings\.(core|http|serving)|flask|werkzeug)\b", re.MULTILINE
)


def test_importing_the_client_loads_no_flask_and_no_server_package() -> None:
    code = (
        "import sys, labthings.client, labthings.client.cli, labthings.client.summary\n"
        "loaded = [name for name in ('flask', 'werkzeug', 'granian', 'labthings.http',\n"
        "          'labthings.serving', 'tqdm') if name in sys.modules]\n"
        "assert not loaded, f'the client imported {loaded}'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=50
    )
    assert result.returncode == 0, result.stderr


def test_no_module_of_the_client_imports_the_core_or_the_server() -> None:
    offenders = [
        path.name
        for path in (ROOT / "labthings" / "client").glob("*.py")
        if _FORBIDDEN.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
