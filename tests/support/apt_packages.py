"""Install Debian packages that tests need (Chromium, Redis) when we may: as root on a
Debian system with apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["apt_install"]


def apt_install(packages: Sequence[str], timeout: float = 600) -> str:
    """`apt-get update` then `apt-get install` `packages`; "" if both worked, else a
    sentence saying why they are not installed (which the caller reports)."""
    if not (os.geteuid() == 0 and shutil.which("apt-get") and Path("/etc/debian_version").exists()):
        return "not root on a Debian system with apt-get, so the test setup cannot install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
    ):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took more than {timeout:.0f} s"
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed:\n{(done.stdout + done.stderr)[-2000:]}"
    return ""
