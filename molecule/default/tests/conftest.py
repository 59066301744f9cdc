"""Fixtures for the container lab's verify step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.lab import inventory  # noqa: E402


@pytest.fixture(scope="session")
def inv():
    return inventory


def pytest_generate_tests(metafunc):
    """Parametrize over inventory groups: a test that takes `node_name`
    runs on every cluster node, `hypervisor` on each hypervisor."""
    for fixture, group in (("node_name", "cluster"), ("hypervisor", "hypervisors"),
                           ("storage_node", "storage")):
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, inventory.group(group))
