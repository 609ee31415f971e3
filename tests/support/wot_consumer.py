"""node-wot, the W3C reference WoT consumer, for the tests: installed from npm into
`node_wot/node_modules` (kept between runs, ignored by git) and run on a plan of steps
by `node_wot/driver.mjs`, which writes one JSON result per step."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from served import SUPPORT

NODE_WOT = SUPPORT / "node_wot"
"""The folder of node-wot's package.json, its node_modules and the driver."""
PACKAGES = ("@node-wot/core", "@node-wot/binding-http")
_OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH")


class NodeWotUnavailable(Exception):
    """node-wot cannot be had here: no node or npm, or the npm registry is unreachable."""


def installed_version() -> str | None:
    """The installed version of @node-wot/core, or None."""
    manifest = NODE_WOT / "node_modules" / "@node-wot" / "core" / "package.json"
    if not all((NODE_WOT / "node_modules" / name / "package.json").is_file() for name in PACKAGES):
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def ensure_node_wot(timeout: float = 600) -> str:
    """Install node-wot 0.9.x with npm unless it is installed; returns its version.

    Raises NodeWotUnavailable when node or npm is missing or the registry cannot be
    reached, and RuntimeError when the install fails otherwise.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise NodeWotUnavailable(f"{' and '.join(missing)} not found on PATH")
    version = installed_version()
    if version is not None and version.startswith("0.9."):
        return version
    command = ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"]
    try:
        done = subprocess.run(
            command, cwd=NODE_WOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        raise NodeWotUnavailable(f"`npm install` took more than {timeout:.0f} s") from error
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if any(code in output for code in _OFFLINE):
            raise NodeWotUnavailable(f"the npm registry is unreachable:\n{output[-1500:]}")
        raise RuntimeError(f"`npm install` of node-wot failed:\n{output[-3000:]}")
    version = installed_version()
    if version is None:
        raise RuntimeError(f"`npm install` left node-wot missing:\n{output[-3000:]}")
    return version


def run_plan(
    steps: Sequence[Mapping[str, Any]],
    *,
    timeout: float = 60,
    credentials: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run `steps` with node-wot (see driver.mjs); one result per step, in order.

    Raises AssertionError with node's output if the driver failed or gave no result
    for some step (a timeout gives a last `timeout` result instead).
    """
    plan = {"timeout": timeout, "steps": list(steps), "credentials": credentials}
    with tempfile.TemporaryDirectory(prefix="labthings-node-wot-") as folder:
        plan_path, results_path = Path(folder) / "plan.json", Path(folder) / "results.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        done = subprocess.run(
            ["node", str(NODE_WOT / "driver.mjs"), str(plan_path), str(results_path)],
            cwd=NODE_WOT,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
        )
        output = (done.stdout + done.stderr)[-4000:]
        assert results_path.is_file(), f"node-wot's driver wrote no results:\n{output}"
        results: list[dict[str, Any]] = json.loads(results_path.read_text(encoding="utf-8"))
    assert done.returncode == 0 and len(results) == len(steps), f"{results}\n{output}"
    return results
