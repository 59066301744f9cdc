"""iscsi_target role on servdb (tgt), read from the hypervisors through
libiscsi's userspace initiator: the container lab's kernel has no iSCSI
initiator (iscsi_tcp), so kernel logins are left to the VM lab."""

from __future__ import annotations


import pytest

from labkit import storage

INTRUDER = "iqn.2026-11.org.example:intruder"


pytestmark = pytest.mark.usefixtures("libiscsi_tools")


def _ls(inv, node, portal, initiator, secret=None):
    url = f"iscsi://{portal['user']}%{secret or portal['secret']}@{portal['address']}"
    return inv.node(node).run("iscsi-ls -s -i %s %s", initiator, url)


def _size(inv, node, portal, initiator, lun):
    url = f"iscsi://{portal['user']}%{portal['secret']}@{portal['address']}/{portal['iqn']}/{lun}"
    return int(inv.node(node).check_output("iscsi-readcapacity16 -s -i %s %s", initiator, url))


def test_each_hypervisor_logs_in_with_chap_and_sees_the_luns(inv, hypervisor, portal):
    initiator = inv.hostvars(hypervisor)["iscsi_initiator_name"]
    out = _ls(inv, hypervisor, portal, initiator)
    assert out.rc == 0, out.stderr
    assert f"Target:{portal['iqn']} Portal:{portal['address']}:3260" in out.stdout, out.stdout
    disks = [line for line in out.stdout.splitlines() if "DIRECT_ACCESS" in line]
    assert len(disks) == len(portal["luns"]), out.stdout


def test_lun_size_is_the_configured_size(inv, hypervisor, portal):
    initiator = inv.hostvars(hypervisor)["iscsi_initiator_name"]
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    for number, lun in enumerate(portal["luns"], start=1):
        wanted = int(lun["size"][:-1]) * units[lun["size"][-1]]
        assert _size(inv, hypervisor, portal, initiator, number) == wanted


def test_lun_n_is_the_lists_nth_entry(inv, portal):
    # tgt-admin numbers backing stores by sorted path unless each has its
    # lun: the lab's list is not in that order (passata before masterauth).
    paths = [lun["path"] for lun in portal["luns"]]
    assert paths != sorted(paths)
    luns, _sessions = storage.tgt_target(inv.node(inv.group("storage")[0]))
    assert [luns.get(number) for number in range(1, len(paths) + 1)] == paths, luns


def test_wrong_chap_secret_is_refused(inv, hypervisor, portal):
    initiator = inv.hostvars(hypervisor)["iscsi_initiator_name"]
    out = _ls(inv, hypervisor, portal, initiator, secret="not-the-secret-at-all")
    assert "Authentication failure" in out.stdout + out.stderr, out.stdout + out.stderr
    assert "DIRECT_ACCESS" not in out.stdout


def test_initiator_outside_the_acl_is_refused(inv, portal):
    """From a node that is not a hypervisor, with a name that is not in the
    ACL and the right CHAP secret, the target is not even offered."""
    out = _ls(inv, portal["node"], portal, INTRUDER)
    assert portal["iqn"] not in out.stdout, out.stdout
    assert "DIRECT_ACCESS" not in out.stdout


def test_target_listens_on_the_cluster_address_only(inv, portal):
    listening = inv.node(portal["node"]).check_output("ss -Hltn sport = :3260")
    assert [line.split()[3] for line in listening.splitlines()] == [f"{portal['address']}:3260"]


def test_secrets_file_is_private(inv, portal):
    conf = inv.node(portal["node"]).file("/etc/tgt/conf.d/havirt.conf")
    assert conf.mode == 0o600 and conf.user == "root"
