"""Fixtures for the VM lab's verify step (inventories/vmlab)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAVIRT_TEST_INVENTORY", str(ROOT / "inventories" / "vmlab"))

from tests.lab import inventory  # noqa: E402


@pytest.fixture(scope="session")
def inv():
    return inventory


def pytest_generate_tests(metafunc):
    for fixture, group in (("node_name", "cluster"), ("hypervisor", "hypervisors"),
                           ("storage_node", "storage")):
        if fixture in metafunc.fixturenames:
            metafunc.parametrize(fixture, inventory.group(group))


@pytest.fixture(scope="session")
def portal(inv):
    """The storage node's iSCSI portal, as the inventory describes it."""
    storage = inv.group("storage")[0]
    hv = inv.hostvars(storage)
    return {"node": storage, "address": hv["havirt_cluster_address"], "iqn": hv["iscsi_target_iqn"],
            "user": hv["havirt_iscsi_chap_user"], "secret": hv["havirt_iscsi_chap_password"]}
