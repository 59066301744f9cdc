"""Unit tests for the hosts_entries / hosts_problems filters."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter import hosts_entries as f

HOSTVARS = {
    "servdb": {"havirt_cluster_address": "192.168.10.10"},
    "servvirt1": {"havirt_cluster_address": "192.168.10.11", "havirt_host_aliases": ["virt1"]},
    "servvirt2": {"ansible_host": "192.168.10.12"},
}
NODES = ["servdb", "servvirt1", "servvirt2"]


def test_entries_in_inventory_order_with_aliases_and_ansible_host_fallback():
    entries = f.hosts_entries(NODES, HOSTVARS)
    assert [(e["address"], e["names"]) for e in entries] == [
        ("192.168.10.10", ["servdb"]),
        ("192.168.10.11", ["servvirt1", "virt1"]),
        ("192.168.10.12", ["servvirt2"]),
    ]
    assert entries[2]["source"] == "ansible_host"


def test_domain_puts_fqdn_first():
    entries = f.hosts_entries(["servdb"], HOSTVARS, domain="example.org")
    assert entries[0]["names"] == ["servdb.example.org", "servdb"]


def test_extra_entries_come_last():
    entries = f.hosts_entries(NODES, HOSTVARS, extra_entries=[{"address": "192.168.10.1", "names": "gw"}])
    assert entries[-1] == {"host": None, "address": "192.168.10.1", "names": ["gw"], "source": "extra_entries"}


@pytest.mark.parametrize(
    ("hostvars", "extra", "expected"),
    [
        pytest.param({**HOSTVARS, "servvirt2": {"havirt_cluster_address": "192.168.10.11"}}, [],
                     ["duplicate address 192.168.10.11: used by servvirt1 and servvirt2"], id="same-address"),
        pytest.param({**HOSTVARS, "servvirt2": {"havirt_cluster_address": "192.168.010.11"}}, [],
                     ["servvirt2: '192.168.010.11' is not an IP address"], id="not-an-address"),
        pytest.param({**HOSTVARS, "servdb": {"havirt_cluster_address": "192.168.10.10",
                                             "havirt_host_aliases": ["VIRT1"]}}, [],
                     ["duplicate name virt1: given to servdb (192.168.10.10) and servvirt1 (192.168.10.11)"],
                     id="alias-clash-case-insensitive"),
        pytest.param(HOSTVARS, [{"address": "192.168.10.10", "names": ["backup"]}],
                     ["duplicate address 192.168.10.10: used by servdb and extra entry backup"], id="extra-address"),
        pytest.param(HOSTVARS, [{"address": "192.168.10.99", "names": ["bad_name"]}],
                     ["extra entry bad_name: 'bad_name' is not a valid host name"], id="bad-name"),
        pytest.param({**HOSTVARS, "servdb": {"havirt_cluster_address": "::ffff:192.168.10.11"}}, [], [],
                     id="ipv6-mapped-is-another-address"),
        pytest.param({**HOSTVARS, "servdb": {"havirt_cluster_address": "fd00::10"},
                      "servvirt1": {"havirt_cluster_address": "fd00:0::10"}}, [],
                     ["duplicate address fd00::10: used by servdb and servvirt1"], id="ipv6-canonical-form"),
    ],
)
def test_problems(hostvars, extra, expected):
    assert f.hosts_problems(NODES, hostvars, extra_entries=extra) == expected
    if expected:
        with pytest.raises(AnsibleFilterError, match="The inventory does not give a valid /etc/hosts"):
            f.hosts_entries(NODES, hostvars, extra_entries=extra)
    else:
        assert f.hosts_entries(NODES, hostvars, extra_entries=extra)


def test_every_problem_is_reported_at_once():
    hostvars = {"a": {"havirt_cluster_address": "10.0.0.1"}, "b": {"havirt_cluster_address": "10.0.0.1"},
                "c": {"havirt_cluster_address": "10.0.0.3", "havirt_host_aliases": ["a"]}}
    problems = f.hosts_problems(["a", "b", "c"], hostvars)
    assert problems == [
        "duplicate address 10.0.0.1: used by a and b",
        "duplicate name a: given to a (10.0.0.1) and c (10.0.0.3)",
    ]


def test_host_without_address_names_the_variable():
    assert f.hosts_problems(["lonely"], {"lonely": {}}) == [
        "Host lonely has no address: set havirt_cluster_address for it in the inventory."]


def test_input_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="expected a list of inventory host names"):
        f.hosts_entries("servdb", HOSTVARS)


@pytest.mark.parametrize(("name", "ok"), [
    ("servvirt1", True), ("servvirt1.example.org", True), ("a" * 63, True), ("a" * 64, False),
    ("-bad", False), ("bad-", False), ("under_score", False), ("", False), ("x..y", False),
])
def test_valid_hostname(name, ok):
    assert f.valid_hostname(name) is ok
