"""A VM marked ``state: absent`` in havirt_vms (extra variables to
site.yml: the lab's inventory marks none): site.yml stops it through the
cluster, deletes its resource and every constraint naming it, removes its
XML and lease files from every hypervisor, and keeps its disk; a second
run changes nothing; status.yml says it was removed and migrate.yml
refuses to move it. Then site.yml without the mark brings it back, and the
guest reads the token it wrote on its disk before. The first run is the
whole site.yml; the others apply the change as the README says for a
change to havirt_vms alone (--tags vms,cluster)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from test_status import _status

from labkit import failover as fo
from labkit import vms as lab_vms

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "masterauth"
STATE = {"removed": False, "token": ""}


def _storage(inv):
    return inv.node(inv.group("storage")[0])


def _scheduled(inv) -> dict[str, list[str]]:
    """The VMs each hypervisor's scheduled backup takes when they run
    there (its settings file, written by the backup role)."""
    return {node: json.loads(inv.node(node).check_output("cat /etc/havirt/backup.json"))["vms"]
            for node in inv.group("hypervisors")}


@pytest.fixture(scope="module")
def absent_vars(inv, tmp_path_factory):
    roles = yaml.safe_load((inv.inventory_path() / "group_vars" / "cluster" / "roles.yml").read_text())
    vms = roles["havirt_vms"]
    for vm in vms:
        if vm["name"] == VM:
            vm["state"] = "absent"
    path = tmp_path_factory.mktemp("removal") / "absent.yml"
    path.write_text(yaml.safe_dump({"havirt_vms": vms}))
    return path


@pytest.fixture(scope="module", autouse=True)
def brought_back(inv):
    """If a test stopped half-way: site.yml without the mark."""
    fo.wait_settled()
    yield
    if STATE["removed"]:
        run, said = lab_vms.site()
        assert run.returncode == 0, said[-3000:]
        fo.wait_settled()


def test_site_removes_a_vm_marked_absent_and_keeps_its_disk(inv, absent_vars):
    lun = lab_vms.disk_lun(VM)["path"]
    size_before = _storage(inv).check_output("stat -c %%s %s", lun)
    STATE["token"] = fo.write_tokens([VM], "removal")[VM]
    STATE["removed"] = True
    run, said = lab_vms.site("-e", f"@{absent_vars}", whole=True)
    assert run.returncode == 0, said[-3000:]

    rid = lab_vms.resource(VM)
    assert f'id="{rid}"' not in _storage(inv).check_output("cibadmin --query --scope resources")
    assert rid not in _storage(inv).check_output("cibadmin --query --scope constraints")
    assert lab_vms.running_on(VM) == [] and lab_vms.defined_on(VM) == []
    lease_dir = inv.hostvars(inv.group("hypervisors")[0])["havirt_vms_lock_dir"]
    for node in inv.group("hypervisors"):
        assert not inv.node(node).file(f"/etc/havirt/vms/{VM}.xml").exists, node
        assert not inv.node(node).file(f"{lease_dir}/{VM}").exists, node
    # The disk: the storage node's LUN file, the same size, still exported.
    assert _storage(inv).check_output("stat -c %%s %s", lun) == size_before
    # Nor is it in the scheduled backups any more.
    assert all(VM not in vms and vms for vms in _scheduled(inv).values()), _scheduled(inv)
    # The others run on, where they were.
    for vm in lab_vms.vms():
        if vm["name"] != VM:
            assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]
            assert lab_vms.http_get(vm["name"], "/")


def test_a_second_run_changes_nothing(absent_vars):
    run, said = lab_vms.site("-e", f"@{absent_vars}")
    assert run.returncode == 0, said[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", run.stdout, re.M)
    assert recap and all(changed == "0" for _node, changed in recap), said[-4000:]


def test_status_says_removed_and_migrate_refuses(absent_vars):
    lines = _status("-e", f"@{absent_vars}")
    assert f"vm {VM}: NOT RUNNING (removed: state absent in havirt_vms; its disk is kept)" in lines, lines
    run = lab_vms.playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"@{absent_vars}")
    assert run.returncode != 0
    assert f"{VM} is marked state: absent in havirt_vms" in run.stdout, run.stdout[-2000:]


def test_without_the_mark_it_comes_back_with_its_disk(inv):
    run, said = lab_vms.site()
    assert run.returncode == 0, said[-3000:]
    STATE["removed"] = False
    # The run for a change to havirt_vms alone (--tags vms,cluster) puts
    # it back in the scheduled backups too.
    names = [vm["name"] for vm in lab_vms.vms()]
    assert _scheduled(inv) == {node: names for node in inv.group("hypervisors")}
    assert lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    answers = fo.first_answers([VM], 0, 120)
    assert VM in answers, lab_vms.postmortem(VM)
    assert lab_vms.http_get(VM, "/cgi-bin/disk").strip() == f"read {STATE['token']}"
