"""The drbd role's inventory checks (plugins/filter/drbd_problems.py): one
sentence per problem; the VM lab's resources pass; 999.1.1.1 is refused
(the Jinja regular expression let it through)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.drbd_problems import drbd_problems, drbd_settings_problems

HOSTS = ["servvirt2", "servvirt1"]
VMLAB = [{"name": "passata", "minor": 1, "port": 7789, "disk": "/dev/vdb"},
         {"name": "scratch", "minor": 2, "port": 7790, "disk": "/dev/vdc"}]


def _vars(**per_host):
    hostvars = {"servvirt1": {"havirt_cluster_address": "10.210.3.11"},
                "servvirt2": {"havirt_cluster_address": "10.210.3.12"}}
    for host, values in per_host.items():
        hostvars[host].update(values)
    return hostvars


def _problems(resources=None, hosts=None, hostvars=None, **kwargs):
    return drbd_problems(VMLAB if resources is None else resources, HOSTS if hosts is None else hosts,
                         hostvars or _vars(), **kwargs)


def test_the_vm_lab_passes():
    assert _problems() == []


@pytest.mark.parametrize("change,expected", [
    ({"name": "-x"}, "DRBD resource -x: the name must be 1 to 63 letters"),
    ({"minor": 1048576}, "DRBD resource passata: minor 1048576 must be a number from 0 to 1048575"),
    ({"minor": "one"}, "minor 'one' must be a number"),
    ({"port": 80}, "DRBD resource passata: port 80 must be a number from 1024 to 65535"),
    ({"disk": "vdb"}, "DRBD resource passata: the backing device 'vdb' of servvirt1 must be a path under /dev"),
    ({"disk": None}, "DRBD resource passata: no backing device for servvirt1: give disk"),
    ({"minor": 2}, "DRBD resource scratch: minor 2 is already DRBD resource passata's: each resource needs its own"),
    ({"port": 7790}, "DRBD resource scratch: port 7790 is already DRBD resource passata's"),
    ({"name": "scratch"}, "DRBD resource scratch: name scratch is already"),
])
def test_a_resource_problem_names_the_resource(change, expected):
    resources = [dict(VMLAB[0], **change), VMLAB[1]]
    problems = _problems(resources)
    assert any(expected in problem for problem in problems), problems


def test_per_host_disks():
    resources = [{"name": "passata", "minor": 1, "port": 7789, "disks": {"servvirt1": "/dev/vdb"}}]
    assert _problems(resources) == ["DRBD resource passata: no backing device for servvirt2: give disk (the same path "
                                    "on both hosts) or disks ({host: device})"]
    resources[0]["disks"]["servvirt2"] = "/dev/sdb"
    assert _problems(resources) == []


@pytest.mark.parametrize("address", ["999.1.1.1", "fd00::12", None])
def test_addresses_must_be_ipv4(address):
    problems = _problems(hostvars=_vars(servvirt2={"havirt_cluster_address": address}))
    assert problems == ["servvirt2: havirt_cluster_address %r is not an IPv4 address (the resources' configuration "
                        "takes IPv4 here)" % (address,)]


def test_exactly_two_hosts():
    assert _problems(hosts=["servvirt1"])[0] == "DRBD replicates between exactly two hosts: group 'hypervisors' has servvirt1"


def test_initialize_nonempty_names_only_known_resources():
    assert _problems(initialize_nonempty=["passata", "nope"]) == [
        "drbd_initialize_nonempty names nope, which havirt_drbd_resources does not (passata, scratch)"]


def test_bad_shapes():
    assert _problems(["passata"]) == ["havirt_drbd_resources[0]: a resource is a dict (name, minor, port, disk), got 'passata'"]
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        _problems({"name": "passata"})


SECRET = "drbd-secret-never-shown"


def _settings(**changes):
    settings = {"shared_secret": SECRET, "fencing": "resource-and-stonith", "fence_devices": [{"name": "fence-lab"}],
                "fence_peer_timeout_s": 60, "promote_timeout": "90s"}
    settings.update(changes)
    return settings


def test_the_labs_drbd_settings_pass():
    assert drbd_settings_problems(_settings()) == []
    assert drbd_settings_problems(_settings(fencing="dont-care", fence_devices=[])) == []
    assert drbd_settings_problems(_settings(fence_peer_timeout_s="100", promote_timeout="2min")) == []


@pytest.mark.parametrize("changes,expected", [
    ({"shared_secret": "short"}, "drbd_shared_secret must be 16 to 64 characters without quotes or spaces"),
    ({"shared_secret": "x" * 65}, "drbd_shared_secret must be 16 to 64 characters"),
    ({"shared_secret": 'quote"in-the-middle'}, "drbd_shared_secret must be 16 to 64 characters"),
    ({"shared_secret": None}, "drbd_shared_secret must be 16 to 64 characters"),
    ({"fence_devices": []}, "drbd_fencing 'resource-and-stonith' freezes a resource's I/O until the cluster manager "
                            "has fenced the lost peer"),
    ({"fence_peer_timeout_s": 0}, "drbd_fence_peer_timeout_s is 0: give a number of seconds, at least 1 and below the "
                                  "DRBD clone's promote timeout (pacemaker_drbd_timeouts.promote, 90s)"),
    ({"fence_peer_timeout_s": 90}, "drbd_fence_peer_timeout_s 90 is not below the DRBD clone's promote timeout "
                                   "(pacemaker_drbd_timeouts.promote, 90s): pacemaker would give up the promotion"),
    ({"fence_peer_timeout_s": 61, "promote_timeout": "1m"}, "drbd_fence_peer_timeout_s 61 is not below"),
    ({"fence_peer_timeout_s": 30, "promote_timeout": "30000ms"}, "drbd_fence_peer_timeout_s 30 is not below"),
])
def test_a_drbd_settings_problem_is_named_without_the_secret(changes, expected):
    problems = drbd_settings_problems(_settings(**changes))
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert SECRET not in problems[0] and "short" not in problems[0]


def test_a_promote_timeout_that_is_no_time_spec_leaves_the_wait_unchecked():
    assert drbd_settings_problems(_settings(fence_peer_timeout_s=600, promote_timeout="soon")) == []
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        drbd_settings_problems("x")


def test_without_a_promote_timeout_the_default_is_named_in_the_message():
    settings = _settings(fence_peer_timeout_s=120)
    del settings["promote_timeout"]
    assert drbd_settings_problems(settings) == [
        "drbd_fence_peer_timeout_s 120 is not below the DRBD clone's promote timeout (pacemaker_drbd_timeouts.promote, "
        "90s): pacemaker would give up the promotion while the handler still waits for the fencing"]
