"""pytest plugin shared by the verify steps of both labs (molecule/default,
molecule/vmlab): the inventory helper, group parametrization and the
storage node's portal, all read from the inventory under test."""

from __future__ import annotations

import pytest

from labkit import inventory, probes


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
def portal(inv):  # pylint: disable=redefined-outer-name
    """The storage node's iSCSI portal, as the inventory describes it."""
    storage = inv.group("storage")[0]
    hv = inv.hostvars(storage)
    return {
        "node": storage,
        "address": hv["havirt_cluster_address"],
        "iqn": hv["havirt_iscsi_target_iqn"],
        "user": hv["havirt_iscsi_chap_user"],
        "secret": hv["havirt_iscsi_chap_password"],
        "luns": hv["iscsi_target_luns"],
    }


@pytest.fixture(scope="session")
def probe_tools(inv):  # pylint: disable=redefined-outer-name
    """ping and curl on the storage node: the probes that watch the guests
    from outside (not part of the cluster; the benchmarks install them
    with the same function)."""
    probes.ensure(inv.group("storage"), probes.GUESTS)
