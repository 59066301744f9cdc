"""replace.yml's decisions (plugins/filter/replace.py): whether a hypervisor
may be rebuilt into the cluster now, when its DRBD copies are whole again,
and which of DRBD's fencing constraints are left over, fed with crm_mon,
/proc/drbd and CIB output captured in the labs."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.replace import (
    replace_drbd_pending, replace_problems, replace_stale_fence_constraints)
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import parse_crm_mon

UTILS = Path(__file__).parents[1] / "module_utils" / "fixtures"
CLUSTER = ["servdb", "servvirt1", "servvirt2"]
HYPERVISORS = ["servvirt1", "servvirt2"]
PASSATA = {"name": "passata", "minor": 1}
SCRATCH = {"name": "scratch", "minor": 2}


def _mon(name):
    return dict(parse_crm_mon((UTILS / "pacemaker_status" / name).read_text()), available=True, error="")


def _drbd(name):
    return (UTILS / "drbd" / name).read_text()


def test_a_node_the_cluster_has_lost_may_be_rebuilt_from_an_uptodate_peer():
    # servvirt2 fenced and off (the Xen lab's crash test).
    status = _mon("crm_mon-node-offline-pacemaker3.xml")
    assert not status["nodes"]["servvirt2"]["online"] and not status["nodes"]["servvirt2"]["unclean"]
    assert replace_problems(status, "servvirt2", HYPERVISORS, CLUSTER,
                            peer_proc_drbd={"servvirt1": _drbd("proc_drbd_wfconnection_forced_primary.txt")},
                            drbd_resources=[PASSATA]) == []
    # The one that stays cannot be rebuilt meanwhile, nor a node of the copy kept.
    assert replace_problems(status, "servvirt1", HYPERVISORS, CLUSTER)[0].startswith(
        "servvirt1 is online in the cluster and not in standby")


def test_a_node_that_runs_in_the_cluster_is_site_yml_s_not_replace_yml_s():
    problems = replace_problems(_mon("crm_mon-healthy-pacemaker3.xml"), "servvirt1", HYPERVISORS, CLUSTER)
    assert len(problems) == 1
    assert problems[0].startswith("servvirt1 is online in the cluster and not in standby")
    assert "maintenance.yml -e node=servvirt1" in problems[0]


def test_a_replacement_that_stopped_midway_may_run_again():
    # servvirt2 online in standby: where a failed replace.yml leaves it.
    assert replace_problems(_mon("crm_mon-standby-pacemaker3.xml"), "servvirt2", HYPERVISORS, CLUSTER) == []


def test_the_other_hypervisor_in_standby_is_refused():
    problems = replace_problems(_mon("crm_mon-standby-pacemaker3.xml"), "servvirt1", HYPERVISORS, CLUSTER)
    assert "servvirt2, which stays, is in standby (the VMs need it)" in problems


def test_an_unclean_node_and_a_lost_quorum_are_said():
    problems = replace_problems(_mon("crm_mon-quorum-lost-pacemaker3.xml"), "servvirt1", HYPERVISORS, CLUSTER)
    assert problems[0] == "the cluster has no quorum (docs/runbooks/quorum-lost.md)"
    assert any(p.startswith("servvirt1 is unclean") and "stonith_admin --confirm servvirt1" in p for p in problems)
    assert "servvirt2, which stays, is not online in the cluster" in problems


def test_the_storage_node_and_an_unknown_name_are_refused():
    status = _mon("crm_mon-healthy-pacemaker3.xml")
    assert replace_problems(status, "servdb", HYPERVISORS, CLUSTER)[0].startswith(
        "servdb is not one of the hypervisors (servvirt1, servvirt2)")
    assert "servvirt3 is not one" in replace_problems(status, "servvirt3", HYPERVISORS, CLUSTER)[0]


def test_a_cluster_manager_that_does_not_answer_is_said():
    problems = replace_problems({"available": False, "error": "crm_mon: Error: cluster is not available on this node"},
                                "servvirt1", HYPERVISORS, CLUSTER)
    assert problems == ["the cluster manager does not answer on the nodes that stay (crm_mon: Error: cluster is "
                        "not available on this node): replace.yml rebuilds a node into a running cluster"]


def test_a_peer_copy_that_is_not_uptodate_is_never_synced_from():
    status = _mon("crm_mon-node-offline-pacemaker3.xml")
    problems = replace_problems(status, "servvirt2", HYPERVISORS, CLUSTER,
                                peer_proc_drbd={"servvirt1": _drbd("proc_drbd_wfconnection_inconsistent.txt")},
                                drbd_resources=[PASSATA])
    assert problems == ["DRBD passata on servvirt1 is WFConnection Secondary/Unknown Inconsistent/DUnknown: its copy "
                        "there is not UpToDate, and the new node would sync from it. Bring it UpToDate first "
                        "(docs/runbooks/drbd-split-brain.md)"]
    down = replace_problems(status, "servvirt2", HYPERVISORS, CLUSTER,
                            peer_proc_drbd={"servvirt1": _drbd("proc_drbd_loaded_no_resources.txt")},
                            drbd_resources=[PASSATA])
    assert down == ["DRBD passata is not up on servvirt1: the new node would have no copy to sync from"]
    no_module = replace_problems(status, "servvirt2", HYPERVISORS, CLUSTER, peer_proc_drbd={"servvirt1": ""},
                                 drbd_resources=[PASSATA])
    assert no_module == down


def test_a_copy_waiting_for_its_peer_is_pending():
    assert replace_drbd_pending(_drbd("proc_drbd_wfconnection_inconsistent.txt"), [PASSATA]) == \
        ["passata: WFConnection Secondary/Unknown Inconsistent/DUnknown"]


def test_a_resync_under_way_says_how_far_and_how_long_left():
    # Captured on a Debian 13 hypervisor (DRBD 8.4.11) during site.yml's first sync, both sides.
    both = [PASSATA, SCRATCH]
    assert replace_drbd_pending(_drbd("proc_drbd_synctarget.txt"), both) == [
        "passata: SyncTarget Secondary/Secondary Inconsistent/UpToDate (50.0% synced), about 35 s left",
        "scratch: SyncTarget Secondary/Secondary Inconsistent/UpToDate (32.5% synced), about 48 s left"]
    assert replace_drbd_pending(_drbd("proc_drbd_syncsource.txt"), both) == [
        "passata: SyncSource Secondary/Secondary UpToDate/Inconsistent (31.3% synced), about 50 s left",
        "scratch: SyncSource Secondary/Secondary UpToDate/Inconsistent (12.5% synced), about 116 s left"]
    # And a fencing constraint stays while the copy is not whole.
    constraints = (UTILS / "pacemaker_cib" / "constraints-drbd-fence-by-handler.xml").read_text()
    assert replace_stale_fence_constraints(constraints, _drbd("proc_drbd_synctarget.txt"), [PASSATA]) == []


def test_whole_copies_are_not_pending_and_the_others_are():
    text = _drbd("proc_drbd_connected_primary.txt")
    assert replace_drbd_pending(text, [PASSATA]) == []
    assert replace_drbd_pending(text, [PASSATA, SCRATCH]) == ["scratch: StandAlone Primary/Unknown UpToDate/Outdated"]
    assert replace_drbd_pending("", [PASSATA]) == ["passata: down"]
    with pytest.raises(AnsibleFilterError, match="is the drbd kernel module loaded"):
        replace_drbd_pending("garbage", [PASSATA])


def test_a_fencing_constraint_is_lifted_only_for_a_whole_copy():
    constraints = (UTILS / "pacemaker_cib" / "constraints-drbd-fence-by-handler.xml").read_text()
    whole = _drbd("proc_drbd_connected_primary.txt")
    stale = replace_stale_fence_constraints(constraints, whole, [PASSATA])
    assert stale == ["drbd-fence-by-handler-passata-drbd-passata-clone"]
    # Not whole yet: the constraint is what keeps the stale copy from being promoted.
    assert replace_stale_fence_constraints(constraints, _drbd("proc_drbd_wfconnection_inconsistent.txt"), [PASSATA]) == []
    # Another resource's constraint, or a name that only starts alike, is never taken.
    assert replace_stale_fence_constraints(constraints, whole, [{"name": "pass", "minor": 1}]) == []
    assert replace_stale_fence_constraints("<constraints/>", whole, [PASSATA]) == []
    with pytest.raises(AnsibleFilterError, match="not XML"):
        replace_stale_fence_constraints("<constraints>", whole, [PASSATA])
