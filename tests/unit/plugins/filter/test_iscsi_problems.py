"""The iSCSI target's and portal's checks (plugins/filter/iscsi_problems.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.iscsi_problems import iscsi_portal_problems, iscsi_target_problems

IQN = "iqn.2026-11.org.havirt.lab:cluster"
GROUPS = {"all": ["servdb", "servvirt1", "servvirt2"], "ungrouped": [], "storage": ["servdb"],
          "hypervisors": ["servvirt1", "servvirt2"]}
LUNS = [{"path": "/srv/iscsi/cluster.img", "size": "512M"}, {"path": "/dev/vg0/passata"},
        {"path": "/srv/iscsi/speedauth.img", "size": "256MiB"}]
QEMU = "iqn.2026-11.org.havirt.lab:qemu"


def _target(iqn=IQN, luns=None, groups=None, **kwargs):
    return iscsi_target_problems(iqn, LUNS if luns is None else luns, GROUPS if groups is None else groups, **kwargs)


def test_the_lab_target_passes():
    assert _target(extra_initiators=[QEMU, "eui.0123456789ABCDEF"]) == []


def test_a_missing_acl_group_names_the_groups():
    groups = dict(GROUPS)
    groups["hypervisor"] = groups.pop("hypervisors")
    assert _target(groups=groups) == ["The target's ACL is built from group 'hypervisors', which is missing or empty "
                                      "in the inventory (groups: hypervisor, storage). Put the hypervisors in it."]


@pytest.mark.parametrize("iqn", ["iqn.2026-11.Org.havirt:x", "iqn.26-11.org.havirt:x", "eui.0123456789abcdef",
                                 "iqn.2026-11.org.havirt:has space", None])
def test_an_iqn_that_is_not_one_is_refused(iqn):
    assert _target(iqn=iqn) == ["iscsi_target_iqn (havirt_iscsi_target_iqn) %r is not an IQN (iqn.YYYY-MM.reversed.domain:name, lower case)."
                                % (iqn,)]


@pytest.mark.parametrize("luns", [[], None])
def test_no_lun_is_refused(luns):
    assert iscsi_target_problems(IQN, luns, GROUPS) == ["iscsi_target_luns is empty: the target would export nothing."]


def test_each_lun_problem_names_the_lun():
    luns = LUNS + [{"path": "srv/relative.img"}, {"path": "/dev/vg0/passata"}, {"path": "/srv/x.img", "size": "big"},
                   "/dev/sdz"]
    assert _target(luns=luns) == [
        "LUN 4: its path must be the absolute path of a block device or file (got 'srv/relative.img').",
        "LUN 5: /dev/vg0/passata is already LUN 2: two LUNs on one device are one disk written by two owners.",
        "LUN 6: size 'big' of /srv/x.img is not a size truncate takes (a number and a unit: 20G, 512MiB).",
        "LUN 7: its path must be the absolute path of a block device or file (got '/dev/sdz')."]


def test_an_extra_initiator_must_be_an_iscsi_name():
    assert _target(extra_initiators=["qemu"]) == [
        "iscsi_target_extra_initiators: 'qemu' is not an iSCSI name (iqn.YYYY-MM.reversed.domain:name, lower case, "
        "or eui. and 16 hex digits)."]


def test_not_the_groups_is_an_error():
    with pytest.raises(AnsibleFilterError, match="groups must be the inventory's groups"):
        _target(groups=["servdb"])


def test_the_lab_portal_passes():
    assert iscsi_portal_problems(IQN, "10.210.1.10", 3260) == []
    assert iscsi_portal_problems(IQN, "servdb", "3260") == []


@pytest.mark.parametrize("args,expected", [
    (("iqn.2026-11.org.havirt.lab", "10.0.0.1", 3260), []),
    (("iqn.bad", "10.0.0.1", 3260), ["iscsi_initiator_target_iqn (havirt_iscsi_target_iqn) 'iqn.bad' is not an IQN "
                                     "(iqn.YYYY-MM.reversed.domain:name, lower case)."]),
    ((IQN, "  ", 3260), ["iscsi_initiator_portal_address is empty: give the target's address (by default the "
                         "havirt_cluster_address of the first host of group 'storage')."]),
    ((IQN, None, 3260), ["iscsi_initiator_portal_address is empty: give the target's address (by default the "
                         "havirt_cluster_address of the first host of group 'storage')."]),
    ((IQN, "10.0.0.1", 0), ["iscsi_initiator_portal_port 0 is not a TCP port (1 to 65535)."]),
    ((IQN, "10.0.0.1", 65536), ["iscsi_initiator_portal_port 65536 is not a TCP port (1 to 65535)."]),
    ((IQN, "10.0.0.1", "iscsi"), ["iscsi_initiator_portal_port 'iscsi' is not a TCP port (1 to 65535)."]),
])
def test_a_portal_problem_is_named(args, expected):
    assert iscsi_portal_problems(*args) == expected
