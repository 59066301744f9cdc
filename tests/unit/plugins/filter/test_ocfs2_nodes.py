"""The ocfs2 role's inventory checks (plugins/filter/ocfs2_nodes.py), with
the o2cb module's rules: what Jinja's regular expressions let through
(999.1.1.1) is refused here."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.ocfs2_nodes import (
    ocfs2_nodes, ocfs2_problems, ocfs2_timeout_changes, ocfs2_timeout_files, ocfs2_timeout_refusals)

HOSTS = ["servvirt1", "servvirt2"]


def _vars(**per_host):
    hostvars = {"servvirt1": {"havirt_cluster_address": "10.210.1.10"},
                "servvirt2": {"havirt_cluster_address": "10.210.1.11"}}
    for host, values in per_host.items():
        hostvars[host].update(values)
    return hostvars


def _problems(hostvars=None, hosts=None, **settings):
    args = dict(cluster_name="havirt", node_slots=4, mount_point="/cluster",
                device="/dev/disk/by-path/ip-10.210.1.12:3260-iscsi-iqn.2026-01.lab:cluster-lun-1", label="cluster")
    args.update(settings)
    return ocfs2_problems(HOSTS if hosts is None else hosts, hostvars or _vars(), **args)


def test_the_nodes_are_numbered_by_their_place_unless_the_inventory_says():
    assert ocfs2_nodes(HOSTS, _vars()) == [
        {"name": "servvirt1", "ip": "10.210.1.10", "number": 0, "port": 7777},
        {"name": "servvirt2", "ip": "10.210.1.11", "number": 1, "port": 7777}]
    nodes = ocfs2_nodes(HOSTS, _vars(servvirt1={"ocfs2_node_number": "7"}), port="7778")
    assert [(n["number"], n["port"]) for n in nodes] == [(7, 7778), (1, 7778)]


def test_a_good_inventory_has_no_problem():
    assert _problems() == []


@pytest.mark.parametrize("hostvars,expected", [
    (_vars(servvirt2={"havirt_cluster_address": "999.1.1.1"}), "nodes[1] (servvirt2): ip '999.1.1.1' is not an IPv4"),
    (_vars(servvirt2={"havirt_cluster_address": "fd00::11"}), "ip 'fd00::11' is not an IPv4 address (o2cb takes IPv4 only)"),
    (_vars(servvirt2={"havirt_cluster_address": "10.210.1.10"}), "ip:port 10.210.1.10:7777 is already used by nodes[0]"),
    (_vars(servvirt2={"ocfs2_node_number": 0}), "nodes[1] (servvirt2): number 0 is already used by nodes[0] (servvirt1)"),
    (_vars(servvirt2={"ocfs2_node_number": 255}), "nodes[1] (servvirt2): number 255 is outside 0-254"),
    (_vars(servvirt2={"ocfs2_node_number": "two"}), "nodes[1] (servvirt2): number 'two' is outside 0-254"),
])
def test_node_problems_name_the_node(hostvars, expected):
    problems = _problems(hostvars)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("settings,expected", [
    ({"cluster_name": "ha-virt"}, "ocfs2_cluster_name 'ha-virt' is not valid for o2cb: 1 to 16 characters"),
    ({"cluster_name": "a" * 17}, "is not valid for o2cb"),
    ({"node_slots": 1}, "ocfs2_node_slots 1 must be a number at least the number of nodes (2)"),
    ({"node_slots": "many"}, "ocfs2_node_slots 'many' must be a number"),
    ({"mount_point": "/var"}, "ocfs2_mount_point '/var' must be an absolute path of its own"),
    ({"mount_point": "/etc/"}, "ocfs2_mount_point '/etc/' must be"),
    ({"mount_point": "cluster"}, "ocfs2_mount_point 'cluster' must be"),
    ({"device": "sdb"}, "ocfs2_device 'sdb' must be a device path under /dev"),
    ({"label": "x" * 64}, "ocfs2_label must be at most 63 characters (it has 64)"),
    ({"port": 70000}, "port 70000 is outside 1-65535"),
])
def test_setting_problems(settings, expected):
    problems = _problems(**settings)
    assert any(expected in problem for problem in problems), problems


def test_an_empty_group_is_named():
    assert "the group 'hypervisors' (ocfs2_node_group) has no host" in _problems(hosts=[])


def test_a_group_that_is_not_a_list_fails():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        ocfs2_nodes("servvirt1", _vars())


# What `cat` printed of a running cluster's configfs files in the VM lab
# (Debian 13, ocfs2-tools 1.8.8): dead_threshold, idle, keepalive, reconnect.
RUNNING_LAB = "11\n30000\n2000\n2000\n"
WANTED = {"ocfs2_heartbeat_threshold": 11, "ocfs2_idle_timeout_ms": 30000,
          "ocfs2_keepalive_delay_ms": 2000, "ocfs2_reconnect_delay_ms": 2000}


def test_the_files_read_are_the_clusters_in_the_order_they_are_compared():
    assert ocfs2_timeout_files("havirt") == [
        "/sys/kernel/config/cluster/havirt/heartbeat/dead_threshold", "/sys/kernel/config/cluster/havirt/idle_timeout_ms",
        "/sys/kernel/config/cluster/havirt/keepalive_delay_ms", "/sys/kernel/config/cluster/havirt/reconnect_delay_ms"]


def test_running_timeouts_equal_to_the_inventory_change_nothing():
    assert ocfs2_timeout_changes(RUNNING_LAB, WANTED) == []
    assert ocfs2_timeout_changes(RUNNING_LAB, {k: str(v) for k, v in WANTED.items()}) == []


def test_each_running_timeout_that_differs_is_named_with_both_values():
    wanted = dict(WANTED, ocfs2_heartbeat_threshold=31, ocfs2_reconnect_delay_ms=5000)
    assert ocfs2_timeout_changes(RUNNING_LAB, wanted) == [
        "ocfs2_heartbeat_threshold: 11 -> 31", "ocfs2_reconnect_delay_ms: 2000 -> 5000"]


def test_a_cluster_that_is_not_online_has_nothing_to_compare():
    assert ocfs2_timeout_changes("", dict(WANTED, ocfs2_heartbeat_threshold=31)) == []


@pytest.mark.parametrize("running", ["11\n30000\n", "eleven\n30000\n2000\n2000\n"])
def test_unreadable_configfs_output_is_an_error_not_a_silent_pass(running):
    with pytest.raises(AnsibleFilterError, match="expected 4 numbers"):
        ocfs2_timeout_changes(running, WANTED)


def _registered(mounted, running):
    return {"__ocfs2_running_mounts": {"stdout": "/cluster\n" if mounted else "", "rc": 0 if mounted else 1},
            "__ocfs2_running_timeouts": {"stdout": running, "rc": 0 if running else 1}}


def test_new_timeouts_are_refused_on_every_node_once_any_node_has_it_mounted():
    hostvars = {"servvirt1": _registered(True, RUNNING_LAB), "servvirt2": _registered(False, RUNNING_LAB)}
    wanted = dict(WANTED, ocfs2_heartbeat_threshold=31)
    assert ocfs2_timeout_refusals(HOSTS, hostvars, wanted) == [
        "servvirt1 runs with ocfs2_heartbeat_threshold: 11 -> 31",
        "servvirt2 runs with ocfs2_heartbeat_threshold: 11 -> 31"]


def test_new_timeouts_pass_when_nothing_is_mounted_or_nothing_changes():
    unmounted = {"servvirt1": _registered(False, RUNNING_LAB), "servvirt2": _registered(False, "")}
    assert ocfs2_timeout_refusals(HOSTS, unmounted, dict(WANTED, ocfs2_heartbeat_threshold=31)) == []
    mounted = {"servvirt1": _registered(True, RUNNING_LAB), "servvirt2": _registered(True, RUNNING_LAB)}
    assert ocfs2_timeout_refusals(HOSTS, mounted, WANTED) == []


def test_hosts_that_did_not_run_the_tasks_are_left_out():
    hostvars = {"servvirt1": _registered(True, "31\n30000\n2000\n2000\n"), "servvirt2": {}}
    assert ocfs2_timeout_refusals(HOSTS, hostvars, WANTED) == ["servvirt1 runs with ocfs2_heartbeat_threshold: 31 -> 11"]
