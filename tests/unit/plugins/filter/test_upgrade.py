"""upgrade.yml's decisions (plugins/filter/upgrade.py): the plan, whether a
node came back whole (crm_mon and /proc/drbd as captured in the labs), and
what apt-get upgraded (its output on a trixie lab node, 2026-12-05)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.upgrade import (
    apt_security_upgrades, apt_upgraded, upgrade_cluster_problems, upgrade_held_on, upgrade_node_problems, upgrade_plan, upgrade_report)
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import parse_crm_mon

UTILS = Path(__file__).parents[1] / "module_utils" / "fixtures"
APT = Path(__file__).parent / "fixtures" / "apt"
CLUSTER = ["servdb", "servvirt1", "servvirt2"]
HYPERVISORS = ["servvirt1", "servvirt2"]


def _mon(name):
    return dict(parse_crm_mon((UTILS / "pacemaker_status" / name).read_text()), available=True, error="")


def _drbd(name):
    return (UTILS / "drbd" / name).read_text()


def test_hypervisors_first_and_the_iscsi_storage_node_only_when_confirmed():
    plan = upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["iscsi_ocfs2"])
    assert plan["order"] == ["servvirt1", "servvirt2"] and plan["problems"] == []
    assert len(plan["skipped"]) == 1 and plan["skipped"][0].startswith("servdb: it serves the VMs' disks")
    assert "-e upgrade_storage=true" in plan["skipped"][0]
    confirmed = upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["iscsi_ocfs2"], storage_confirmed=True)
    assert confirmed["order"] == ["servvirt1", "servvirt2", "servdb"] and confirmed["skipped"] == []


def test_a_storage_node_that_serves_no_disk_is_upgraded_like_the_others():
    plan = upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["drbd"])
    assert plan["order"] == ["servvirt1", "servvirt2", "servdb"] and plan["skipped"] == []


def test_some_nodes_in_the_cluster_order():
    assert upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["drbd"], only="servdb, servvirt2")["order"] == \
        ["servvirt2", "servdb"]
    assert upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["drbd"], only=["servvirt1"])["order"] == ["servvirt1"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(only="servvirt3"), "servvirt3 is not a node of the cluster (servdb, servvirt1, servvirt2)."),
    (dict(packages="stable"), "upgrade_packages is 'stable'; it must be one of full, safe, security."),
    (dict(reboot="sometimes"), "upgrade_reboot is 'sometimes'; it must be one of auto, always, never."),
    (dict(only="servdb"), "No node to upgrade: servdb: it serves the VMs' disks"),
])
def test_bad_requests_are_refused(kwargs, message):
    problems = upgrade_plan(CLUSTER, HYPERVISORS, ["servdb"], ["iscsi_ocfs2"], **kwargs)["problems"]
    assert problems and problems[0].startswith(message), problems


def test_a_healthy_cluster_is_whole():
    status = _mon("crm_mon-healthy-pacemaker3.xml")
    assert upgrade_cluster_problems(status, CLUSTER) == []
    assert upgrade_node_problems(status, "servvirt2") == []


def test_a_node_in_standby_is_not_whole():
    status = _mon("crm_mon-standby-pacemaker3.xml")
    standby = [n for n, about in status["nodes"].items() if about["standby"]]
    assert standby
    assert upgrade_cluster_problems(status, CLUSTER) == ["%s is in standby" % n for n in standby]


def test_no_quorum_is_said_once():
    status = _mon("crm_mon-quorum-lost-pacemaker3.xml")
    problems = upgrade_cluster_problems(status, CLUSTER)
    assert problems.count("the cluster has no quorum") == 1
    assert any("is not online in the cluster" in p for p in problems), problems


def test_a_failed_action_on_the_node_is_said_with_its_reason():
    status = _mon("crm_mon-failed-action.xml")
    failure = status["failures"][0]
    problems = upgrade_node_problems(status, failure["node"])
    assert any(p.startswith("%s failed on %s" % (failure["op_key"], failure["node"])) for p in problems), problems


def test_a_cluster_manager_that_does_not_answer():
    assert upgrade_node_problems({"available": False, "error": "crm_mon: Connection refused"}, "servvirt1") == \
        ["the cluster manager does not answer on servvirt1: crm_mon: Connection refused"]


def test_a_clone_that_ran_on_the_node_before_must_run_after():
    def status(nodes):
        return {"available": True, "quorum": True, "failures": [],
                "nodes": {"servvirt1": {"online": True, "standby": False, "maintenance": False, "unclean": False}},
                "resources": {"dlm-clone": {"id": "dlm-clone", "parent": None, "nodes": nodes},
                              "dlm": {"id": "dlm", "parent": "dlm-clone", "nodes": nodes[:1]}}}
    before = upgrade_held_on(status(["servvirt1", "servvirt2"]), "servvirt1")
    assert before == ["dlm-clone"]
    assert upgrade_node_problems(status(["servvirt2"]), "servvirt1", before) == \
        ["this resource ran on servvirt1 before and not now: dlm-clone"]
    assert upgrade_node_problems(status(["servvirt1", "servvirt2"]), "servvirt1", before) == []


def test_the_storage_target_that_ran_on_the_storage_node_before_must_run_after():
    status = _mon("crm_mon-healthy-pacemaker3.xml")
    held = upgrade_held_on(status, "servdb", ["havirt-storage"])
    assert held == ["havirt-storage"]
    status["resources"]["havirt-storage"] = dict(status["resources"]["havirt-storage"], nodes=[], active=False)
    assert upgrade_node_problems(status, "servdb", held) == \
        ["this resource ran on servdb before and not now: havirt-storage"]


def test_drbd_must_be_connected_and_up_to_date_on_both_sides():
    status = _mon("crm_mon-healthy-pacemaker3.xml")
    resources = [{"name": "scratch", "minor": 1}]
    assert upgrade_node_problems(status, "servvirt1", proc_drbd=_drbd("proc_drbd_connected_secondary.txt"),
                                 drbd_resources=resources) == []
    assert upgrade_node_problems(status, "servvirt1", proc_drbd=_drbd("proc_drbd_wfconnection_inconsistent.txt"),
                                 drbd_resources=resources) == \
        ["DRBD scratch on servvirt1 is WFConnection Secondary/Unknown Inconsistent/DUnknown, "
         "not Connected and UpToDate on both sides"]
    assert upgrade_node_problems(status, "servvirt1", proc_drbd="", drbd_resources=resources) == \
        ["DRBD scratch on servvirt1 is not loaded, not Connected and UpToDate on both sides"]
    with pytest.raises(AnsibleFilterError):
        upgrade_node_problems(status, "servvirt1", proc_drbd="garbage", drbd_resources=resources)


def test_what_apt_get_upgraded():
    assert apt_upgraded((APT / "trixie-dist-upgrade.stdout").read_text()) == [
        "login.defs 1:4.17.4-2 -> 1:4.17.4-2+deb13u1", "passwd 1:4.17.4-2 -> 1:4.17.4-2+deb13u1",
        "libzstd1 1.5.7+dfsg-1 -> 1.5.7+dfsg-1+deb13u1", "libk5crypto3 1.21.3-5+deb13u1 -> 1.21.3-5+deb13u2",
        "libgssapi-krb5-2 1.21.3-5+deb13u1 -> 1.21.3-5+deb13u2",
        "libkrb5support0 1.21.3-5+deb13u1 -> 1.21.3-5+deb13u2", "libkrb5-3 1.21.3-5+deb13u1 -> 1.21.3-5+deb13u2"]
    assert apt_upgraded("Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n") == []
    assert apt_upgraded("Unpacking needrestart (3.8-1) ...\n") == ["needrestart 3.8-1 (new)"]
    # As apt-get prints it: dpkg's progress ends in carriage returns.
    assert apt_upgraded("(Reading database ... 5%\r(Reading database ... 100%\rUnpacking passwd (2) over (1) ...\n") == \
        ["passwd 1 -> 2"]


def test_security_updates_of_debian_13_all_come_from_trixie_security():
    # Captured in the lab's Debian 13 image: nine updates, all from trixie-security.
    assert apt_security_upgrades((APT / "trixie-simulate-dist-upgrade.stdout").read_text()) == [
        "login.defs", "passwd", "openssl-provider-legacy", "libzstd1", "libssl3t64", "libk5crypto3",
        "libgssapi-krb5-2", "libkrb5support0", "libkrb5-3"]


def test_point_release_updates_are_not_security_updates():
    # Captured on a Debian 12 host: 140 updates, 93 of them (also) in bookworm-security.
    names = apt_security_upgrades((APT / "bookworm-simulate-dist-upgrade.stdout").read_text())
    assert len(names) == 93
    # In bookworm-security only, and in both the point release and bookworm-security.
    assert {"liblzma-dev", "openssl", "libssl3", "libgcrypt20", "linux-libc-dev"} <= set(names)
    # In the point release only.
    assert not {"base-files", "bash", "systemd-timesyncd"} & set(names)


def test_packages_apt_would_add_and_other_archives_are_left_out():
    out = ("Inst linux-image-6.12.60-amd64 (6.12.60-1 Debian-Security:13/stable-security [amd64])\n"
           "Inst linux-image-amd64 [6.12.57-1] (6.12.60-1 Debian-Security:13/stable-security [amd64])\n"
           "Inst nodejs [20.1.0-1nodesource1] (20.2.0-1nodesource1 Node Source:nodistro/nodistro [amd64])\n"
           "Conf linux-image-amd64 (6.12.60-1 Debian-Security:13/stable-security [amd64])\n")
    assert apt_security_upgrades(out) == ["linux-image-amd64"]
    assert apt_security_upgrades("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n") == []
    assert apt_security_upgrades(None) == []


def test_the_report_says_per_node_what_was_done_and_why():
    done = [{"node": "servvirt1", "packages": ["libzstd1 1.5.7+dfsg-1 -> 1.5.7+dfsg-1+deb13u1"], "restarted": True,
             "reasons": ["init.scope runs replaced code (/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.7)"],
             "away_s": 31.2, "moved": "4"},
            {"node": "servvirt2", "packages": [], "restarted": True, "reasons": [], "away_s": 28.0, "moved": 2},
            {"node": "servdb", "packages": ["passwd 1:4.17.4-2 -> 1:4.17.4-2+deb13u1"], "restarted": False,
             "reasons": ["sshd (pid 101) runs replaced code (/usr/sbin/sshd)"], "away_s": 0.4, "moved": 0}]
    assert upgrade_report(done, ["servdb2: why"]) == [
        "servvirt1: 1 package(s) upgraded (libzstd1 1.5.7+dfsg-1 -> 1.5.7+dfsg-1+deb13u1), restarted "
        "(init.scope runs replaced code (/usr/lib/x86_64-linux-gnu/libzstd.so.1.5.7)), out of service 31.2 s, 4 VM move(s)",
        "servvirt2: 0 package(s) upgraded, restarted (upgrade_reboot=always), out of service 28.0 s, 2 VM move(s)",
        "servdb: 1 package(s) upgraded (passwd 1:4.17.4-2 -> 1:4.17.4-2+deb13u1), not restarted, old code still "
        "runs (sshd (pid 101) runs replaced code (/usr/sbin/sshd)), out of service 0.4 s, 0 VM move(s)",
        "Skipped: servdb2: why"]
    assert upgrade_report([{"node": "a", "packages": [], "restarted": False, "reasons": [], "moved": 0,
                            "away_s": 3.5}]) == ["a: 0 package(s) upgraded, no restart needed, out of service 3.5 s, 0 VM move(s)"]
