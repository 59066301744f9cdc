"""havirt.cluster.iscsiadm with the portal given by host name, on a real
kernel session: each hypervisor is logged in to servdb through the record
site.yml made by address (discovery); the module given the storage node's
name (which the hosts role makes resolve to that address) finds the same
record and session, changes nothing, and returns the LUNs' by-path links,
which exist. Read-only: nothing is logged in or out."""

from __future__ import annotations

import json
import subprocess


def _module(inv, hypervisor, args: str) -> tuple[str, dict]:
    """The module run ad hoc: its status (SUCCESS, CHANGED, FAILED!) and result."""
    run = subprocess.run(["ansible", *inv.inventory_args(), hypervisor, "-m", "havirt.cluster.iscsiadm",
                          "-a", args], cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True,
                         timeout=300)
    head, found, result = run.stdout.partition(" => ")
    assert found, run.stdout + run.stderr
    return head.rsplit(" | ", 1)[-1].strip(), json.loads(result)


def test_a_portal_by_name_is_the_session_of_its_address(inv, hypervisor, portal):
    # The name resolves on the hypervisor to the portal's address.
    assert inv.node(hypervisor).check_output("getent ahosts %s", portal["node"]).split()[0] == portal["address"]
    status, result = _module(inv, hypervisor, f"portal={portal['node']} target={portal['iqn']} state=logged_in "
                                              "device_timeout=30")
    assert status == "SUCCESS", result
    assert result["changed"] is False, result
    assert "discovered" not in result, result
    session = result["session"]
    assert (session["address"], session["persistent_address"]) == (portal["address"], portal["address"]), session
    assert result["devices"], result
    for link in result["devices"]:
        assert link.startswith(f"/dev/disk/by-path/ip-{portal['address']}:3260-iscsi-{portal['iqn']}-lun-"), link
        assert inv.node(hypervisor).file(link).exists, link
