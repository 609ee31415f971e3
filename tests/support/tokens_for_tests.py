"""Access tokens for tests, made as a user makes them: `labthings token create`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def create_token(folder: Path, name: str, scope: str) -> str:
    """A new token of `scope` named `name` in the data folder `folder`."""
    made = subprocess.run(
        [sys.executable, "-m", "labthings", "token", "create", name, "--scope", scope]
        + ["--data-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]
