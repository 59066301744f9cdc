"""Fixtures for the container lab's verify step (inventories/lab)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

pytest_plugins = ["tests.lab.fixtures"]


@pytest.fixture(scope="session")
def libiscsi_tools(inv):
    """libiscsi's tools are the lab's probe, not part of the cluster: the
    test installs them on the nodes itself."""
    for name in inv.group("cluster"):
        inv.node(name).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libiscsi-bin")

