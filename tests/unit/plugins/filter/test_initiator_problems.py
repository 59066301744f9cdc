"""The initiator names (plugins/filter/initiator_problems.py), one rule for
the target's ACL and the initiators: the labs' names pass."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.initiator_problems import initiator_problems

HOSTS = ["servvirt1", "servvirt2"]


def _vars(**per_host):
    hostvars = {host: {"iscsi_initiator_name": "iqn.2026-11.org.havirt.lab:%s" % host,
                       "havirt_cluster_address": "10.210.1.%d" % (10 + index)} for index, host in enumerate(HOSTS)}
    for host, values in per_host.items():
        hostvars[host].update(values)
        hostvars[host] = {key: value for key, value in hostvars[host].items() if value is not None}
    return hostvars


def test_the_lab_names_pass():
    assert initiator_problems(HOSTS, _vars()) == []
    assert initiator_problems(HOSTS, _vars(servvirt2={"iscsi_initiator_name": "eui.02004567A425678D"})) == []


@pytest.mark.parametrize("change,expected", [
    ({"iscsi_initiator_name": None}, "servvirt2: no iscsi_initiator_name in the inventory"),
    ({"iscsi_initiator_name": "iqn.2026-11.Org.Havirt:x"},
     "servvirt2: iscsi_initiator_name 'iqn.2026-11.Org.Havirt:x' is not an iSCSI name"),
    ({"iscsi_initiator_name": "servvirt2"}, "is not an iSCSI name"),
    ({"iscsi_initiator_name": "iqn.2026-11.org.havirt.lab:servvirt1"},
     "servvirt2: iscsi_initiator_name iqn.2026-11.org.havirt.lab:servvirt1 is already servvirt1's"),
    ({"havirt_cluster_address": None}, "servvirt2: no havirt_cluster_address"),
])
def test_a_problem_names_the_host(change, expected):
    problems = initiator_problems(HOSTS, _vars(servvirt2=change))
    assert len(problems) == 1 and expected in problems[0], problems


def test_an_empty_group_and_bad_shapes():
    assert initiator_problems([], {}) == ["group 'hypervisors' has no host: the target's ACL and the initiators come from it"]
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        initiator_problems("servvirt1", _vars())
