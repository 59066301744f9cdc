"""Restarts: the storage target comes back by itself after its service and
its whole node restart. It restarts servdb: the last file to run
(CONTAINER_LAB in tools/labkit/order.py, enforced by conftest.py)."""

from __future__ import annotations

import subprocess
import time

import pytest
from test_iscsi_target import _ls

pytestmark = pytest.mark.usefixtures("libiscsi_tools")


def _wait_for_target(inv, portal, timeout=60):
    initiator = inv.hostvars(inv.group("hypervisors")[0])["iscsi_initiator_name"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out = _ls(inv, inv.group("hypervisors")[0], portal, initiator)
            if "DIRECT_ACCESS" in out.stdout:
                return out.stdout
        except Exception:  # noqa: BLE001 - the node may still be booting
            pass
        time.sleep(2)
    raise AssertionError(f"target not back within {timeout}s")


def _wait_for_ssh(inv, name, timeout):
    deadline = time.monotonic() + timeout
    while inv.node(name).run("true").rc != 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} does not answer over SSH {timeout}s after its restart")
        time.sleep(2)


def test_configuration_survives_a_service_restart(inv, portal):
    inv.node(portal["node"]).check_output("systemctl restart tgt")
    _wait_for_target(inv, portal)


def test_configuration_survives_a_node_restart(inv, portal):
    """Restart the whole storage node (its container) and find the target,
    its LUNs and its ACL again with no hands."""
    # A clean shutdown (the cluster manager stops the target first; tgt
    # waits for its initiators' sessions), not a crash: up to 120 s.
    subprocess.run(["podman", "restart", "--time", "120", f"havirt-{portal['node']}"],
                   check=True, capture_output=True, env=inv.clean_env(CONTAINERS_CONF=inv.containers_conf()))
    inv.node.cache_clear()
    _wait_for_target(inv, portal, timeout=120)
    _wait_for_ssh(inv, portal["node"], timeout=60)
    acl = inv.node(portal["node"]).check_output("tgtadm --mode target --op show")
    assert "ALL" not in acl.split("ACL information:", 1)[1], acl
