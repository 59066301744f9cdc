"""maintenance.yml: a hypervisor taken out of service (its VMs leave live,
the cluster manager's standby keeps anything from starting there) and put
back (standby lifted, its VMs back), in the container lab."""

from __future__ import annotations

import re

import pytest

from test_status import _status

from labkit.vms import playbook, running_on, vms, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")


def _standby(inv, node):
    """The node's standby as crm_mon says it, read on the storage node."""
    xml = inv.node(inv.group("storage")[0]).check_output("crm_mon --one-shot --output-as=xml")
    match = re.search(rf'<node name="{node}" [^>]*standby="(true|false)"', xml)
    assert match, xml
    return match.group(1) == "true"


def _changed(run):
    return sum(int(n) for n in re.findall(r"changed=(\d+)", run.stdout))


def test_maintenance_empties_the_node_and_keeps_it_empty_then_puts_it_back(inv):
    node = inv.group("hypervisors")[1]
    other = inv.group("hypervisors")[0]
    for v in vms():
        wait_for_http(v["name"], timeout=120)

    run = playbook("maintenance.yml", "-e", f"node={node}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert _standby(inv, node)
    for v in vms():
        assert running_on(v["name"]) == [other], v["name"]
        wait_for_http(v["name"], timeout=10)
    lines = _status()
    assert lines[0].endswith(f", standby: {node}"), lines
    assert any(line.startswith(f"if {other} dies: {node} must take ") and line.endswith(" but is in standby -> "
                                                                                          "NOWHERE TO GO")
               for line in lines), lines
    # Again: nothing left to move, the standby already set.
    again = playbook("maintenance.yml", "-e", f"node={node}")
    assert again.returncode == 0 and _changed(again) == 0, again.stdout[-3000:]
    assert f"{node} evacuated: 0 VM(s) moved, nothing to do" in again.stdout

    off = playbook("maintenance.yml", "-e", f"node={node}", "-e", "state=off")
    assert off.returncode == 0, off.stdout[-3000:] + off.stderr
    assert not _standby(inv, node)
    for v in vms():
        assert running_on(v["name"]) == [v["preferred"]], v["name"]
        wait_for_http(v["name"], timeout=10)


def test_maintenance_refuses_a_node_that_is_not_a_hypervisor(inv):
    storage = inv.group("storage")[0]
    run = playbook("maintenance.yml", "-e", f"node={storage}")
    assert run.returncode != 0
    assert f"got '{storage}'" in run.stdout and "Nothing was changed." in run.stdout
    assert not _standby(inv, storage)
    bad = playbook("maintenance.yml", "-e", f"node={inv.group('hypervisors')[0]}", "-e", "state=maybe")
    assert bad.returncode != 0 and "on or off; got 'maybe'" in bad.stdout


def test_replace_refuses_a_node_that_runs_in_the_cluster_and_changes_nothing(inv):
    """replace.yml (a hypervisor reinstalled from nothing) on a node that is
    online and not in standby: refused before anything changes, the way
    to apply the configuration to a running node named. Its whole run, a
    wiped hypervisor rebuilt, is the VM lab's (molecule/vmlab/tests/
    test_replace.py)."""
    node = inv.group("hypervisors")[0]
    storage = inv.node(inv.group("storage")[0])
    before = storage.check_output("cibadmin --query --scope nodes")
    run = playbook("replace.yml", "-e", f"node={node}")
    assert run.returncode != 0, run.stdout[-3000:]
    text = " ".join(run.stdout.split())
    assert f"{node} is online in the cluster and not in standby" in text, text[-3000:]
    assert "run site.yml" in text and "Nothing was changed." in text
    assert not _standby(inv, node)
    assert storage.check_output("cibadmin --query --scope nodes") == before
    db = playbook("replace.yml", "-e", f"node={inv.group('storage')[0]}")
    assert db.returncode != 0 and f"got '{inv.group('storage')[0]}'" in db.stdout
