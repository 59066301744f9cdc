"""Where the vms role writes an image into a DRBD resource
(plugins/filter/vm_images.py), from /proc/drbd as the VM lab's DRBD 8.4.11
printed it (module_utils/fixtures/drbd) and the VM lab's CIB
(roles/fixtures/fence_peer/vmlab-trixie-drbd.xml: drbd-passata)."""

from __future__ import annotations

import pathlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter import vm_images as f

UNIT = pathlib.Path(__file__).parents[2]
DRBD = UNIT / "plugins" / "module_utils" / "fixtures" / "drbd"
CIB = (UNIT / "roles" / "fixtures" / "fence_peer" / "vmlab-trixie-drbd.xml").read_text()
HOSTS = ["servvirt1", "servvirt2"]
RESOURCES = [{"name": "passata", "minor": 1, "port": 7789, "disk": "/dev/vdb"},
             {"name": "scratch", "minor": 2, "port": 7790, "disk": "/dev/vdc"}]
IMAGE = {"src": "/srv/images/debian.qcow2"}
VMS = [{"name": "passata", "disk": {"drbd": "passata"}, "image": IMAGE},
       {"name": "speedauth", "disk": {"path": "/cluster/vms/speedauth.img"}, "image": IMAGE},
       {"name": "old", "disk": {"drbd": "scratch"}}]


def proc(name):
    return (DRBD / f"proc_drbd_{name}.txt").read_text()


def plan(first, second, cib="", vms=None):
    return f.vms_drbd_image_plan({"servvirt1": first, "servvirt2": second}, VMS if vms is None else vms, RESOURCES,
                                 HOSTS, cib)


def test_a_new_resource_is_promoted_for_the_write_on_its_sync_source():
    # The drbd role's first sync from servvirt1 runs; the cluster does not manage it yet.
    assert plan(proc("syncsource"), proc("synctarget")) == [
        {"vm": "passata", "resource": "passata", "device": "/dev/drbd1", "host": "servvirt1", "promote": True,
         "problem": ""}]


def test_the_sync_source_is_chosen_wherever_it_is():
    [found] = plan(proc("synctarget"), proc("syncsource"))
    assert (found["host"], found["promote"], found["problem"]) == ("servvirt2", True, "")


def test_both_uptodate_and_secondary_the_first_hypervisor():
    [found] = plan(proc("connected_both_secondary"), proc("connected_both_secondary"))
    assert (found["host"], found["promote"]) == ("servvirt1", True)


def test_where_the_resource_is_primary_nothing_is_promoted():
    # passata runs on servvirt2 (or the cluster keeps it promoted there while it is stopped).
    [found] = plan(proc("connected_secondary"), proc("connected_primary"), cib=CIB)
    assert (found["host"], found["promote"], found["problem"]) == ("servvirt2", False, "")


def test_primary_on_a_peer_outside_the_run_is_left_alone():
    # site.yml --limit servvirt1 while passata runs on servvirt2.
    found = f.vms_drbd_image_plan({"servvirt1": proc("connected_secondary")}, VMS, RESOURCES, ["servvirt1"], CIB)
    assert found == [{"vm": "passata", "resource": "passata", "device": "/dev/drbd1", "host": "", "promote": False,
                      "problem": ""}]


def test_a_resource_of_the_cluster_primary_nowhere_is_never_promoted_by_hand():
    [found] = plan(proc("connected_both_secondary"), proc("connected_both_secondary"), cib=CIB)
    assert not found["host"] and not found["promote"]
    assert "passata is the cluster's and Primary nowhere" in found["problem"]


def test_the_cluster_managing_another_resource_does_not_count():
    vms = [{"name": "other", "disk": {"drbd": "scratch"}, "image": IMAGE}]
    [found] = plan(proc("connected_both_secondary"), proc("connected_both_secondary"), cib=CIB, vms=vms)
    assert (found["device"], found["host"], found["promote"]) == ("/dev/drbd2", "servvirt1", True)


def test_primary_on_both_is_a_migration_under_way():
    [found] = plan(proc("connected_two_primaries"), proc("connected_two_primaries"))
    assert "Primary on servvirt1 and servvirt2" in found["problem"] and not found["host"]


def test_a_resource_down_on_a_hypervisor():
    [found] = plan(proc("loaded_no_resources"), proc("connected_both_secondary"))
    assert "not up on servvirt1" in found["problem"], found
    [found] = plan("", proc("connected_both_secondary"))
    assert "not up on servvirt1" in found["problem"], found


@pytest.mark.parametrize("first, second", [
    # Alone, its peer unknown: it may be Primary on its own side.
    ("standalone", "standalone"),
    # The first sync not started yet: Inconsistent on both.
    ("wfconnection_inconsistent", "wfconnection_inconsistent"),
])
def test_no_connected_uptodate_copy_no_write(first, second):
    [found] = plan(proc(first), proc(second))
    assert "connected and UpToDate on no hypervisor" in found["problem"] and not found["promote"], found


def test_only_the_vms_made_from_an_image_on_drbd():
    assert plan(proc("connected_primary"), proc("connected_secondary"), vms=VMS[1:]) == []


def test_a_resource_not_in_the_inventory_and_texts_that_are_not_drbd():
    with pytest.raises(AnsibleFilterError, match="nope is not in havirt_drbd_resources"):
        plan(proc("connected_primary"), proc("connected_secondary"),
             vms=[{"name": "x", "disk": {"drbd": "nope"}, "image": IMAGE}])
    with pytest.raises(AnsibleFilterError, match="servvirt1's /proc/drbd"):
        plan("no such thing", proc("connected_secondary"))
    with pytest.raises(AnsibleFilterError, match="not XML"):
        plan(proc("connected_primary"), proc("connected_secondary"), cib="<cib")


def test_the_cluster_drbd_resources_from_the_cib():
    assert f.cluster_drbd_resources(CIB) == ["passata"]
    assert f.cluster_drbd_resources("") == []
