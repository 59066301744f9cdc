"""The ntp role's checks (plugins/filter/ntp_problems.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.ntp_problems import ntp_problems

GROUPS = {"all": ["servdb", "servvirt1", "servvirt2"], "ungrouped": [], "cluster": ["servdb", "servvirt1", "servvirt2"],
          "storage": ["servdb"], "hypervisors": ["servvirt1", "servvirt2"]}
HOSTVARS = {"servdb": {"havirt_cluster_address": "10.210.1.10"},
            "servvirt1": {"havirt_cluster_address": "10.210.1.11"},
            "servvirt2": {"havirt_cluster_address": "10.210.1.12"}}
UPSTREAM = [{"host": "0.debian.pool.ntp.org"}]


def _problems(groups=None, hostvars=None, **kwargs):
    return ntp_problems(groups or GROUPS, hostvars or HOSTVARS, **kwargs)


def test_the_lab_passes_with_and_without_upstream_servers():
    assert _problems() == []
    assert _problems(upstream_servers=UPSTREAM, local_stratum=0) == []


@pytest.mark.parametrize("groups", [
    dict(GROUPS, storage=[]),
    {key: value for key, value in GROUPS.items() if key != "storage"},
    dict(GROUPS, storage=["servweb"]),
])
def test_the_servers_must_be_a_group_inside_the_cluster(groups):
    assert _problems(groups=groups)[0] == ("ntp needs a non-empty group 'storage' (the time servers) inside a "
                                           "non-empty group 'cluster' (every node). The inventory has: "
                                           + ", ".join(sorted(set(groups) - {"all", "ungrouped"})) + ".")


def test_a_node_without_an_address_is_named():
    hostvars = dict(HOSTVARS, servvirt2={"havirt_cluster_address": "10.210.1.256"})
    assert _problems(hostvars=hostvars) == ["servvirt2: havirt_cluster_address '10.210.1.256' is not an IP address "
                                            "(the time servers' and clients' address)."]


def test_no_source_at_all_is_refused():
    assert _problems(local_stratum=0) == [
        "ntp_upstream_servers is empty and ntp_local_stratum is 0: the time servers would have no source and the "
        "cluster would never sync. List upstream servers or set ntp_local_stratum (10 is usual)."]
    assert _problems(local_stratum="0")[0].startswith("ntp_upstream_servers is empty")


@pytest.mark.parametrize("stratum", [16, -1, "ten"])
def test_a_stratum_chrony_refuses_is_named(stratum):
    assert _problems(local_stratum=stratum) == ["ntp_local_stratum %r must be a number from 0 (no fallback) to 15."
                                                % (stratum,)]


def test_not_the_groups_is_an_error():
    with pytest.raises(AnsibleFilterError, match="the inventory's groups"):
        ntp_problems(["servdb"], HOSTVARS)
