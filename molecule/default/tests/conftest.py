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


@pytest.fixture(scope="session")
def portal(inv):
    """The storage node's iSCSI portal, as the inventory describes it."""
    storage = inv.group("storage")[0]
    hv = inv.hostvars(storage)
    return {
        "node": storage,
        "address": hv["havirt_cluster_address"],
        "iqn": hv["iscsi_target_iqn"],
        "user": hv["havirt_iscsi_chap_user"],
        "secret": hv["havirt_iscsi_chap_password"],
        "luns": hv["iscsi_target_luns"],
    }


@pytest.fixture(scope="session")
def libiscsi_tools(inv):
    """libiscsi's tools are the lab's probe, not part of the cluster: the
    test installs them on the hypervisors itself."""
    for name in inv.group("cluster"):
        inv.node(name).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libiscsi-bin")
