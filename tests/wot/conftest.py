"""Fixtures of the generic WoT consumer tests: node-wot, installed from npm."""

from __future__ import annotations

import pytest
from wot_consumer import NodeWotUnavailable, ensure_node_wot


@pytest.fixture(scope="session")
def node_wot() -> str:
    """node-wot's version, installed by npm into tests/support/node_wot if missing.

    Skips only where node or npm is missing or the npm registry cannot be reached.
    """
    try:
        return ensure_node_wot()
    except NodeWotUnavailable as error:
        pytest.skip(f"node-wot cannot be installed here: {error}")
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
