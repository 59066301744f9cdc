"""The shipped inventories load, have the groups the roles expect and give a
clash-free /etc/hosts (checked offline: no host is contacted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.vars.manager import VariableManager
from offline_templating import template_each

from ansible_collections.havirt.cluster.plugins.filter.hosts_entries import hosts_problems

ROOT = Path(__file__).resolve().parents[2]  # the checkout (inventories are not in the collection)
# Collections' filters (ansible.utils...) as ansible-playbook finds them.
init_plugin_loader([str(ROOT / "collections")])


def _load(name):
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(ROOT / "inventories" / name)])
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = {}
    for host in inventory.get_hosts():
        raw = variables.get_vars(host=host)
        hostvars[host.name] = template_each(Templar(loader=loader, variables=raw), raw)
    return inventory.get_groups_dict(), hostvars


@pytest.mark.parametrize("name", ["lab", "vmlab", "example"])
def test_topology_of_the_sources(name):
    groups = _load(name)[0]
    assert sorted(groups["storage"]) == ["servdb"]
    assert sorted(groups["hypervisors"]) == ["servvirt1", "servvirt2"]
    assert sorted(groups["cluster"]) == ["servdb", "servvirt1", "servvirt2"]


@pytest.mark.parametrize("name", ["lab", "vmlab", "example"])
def test_names_and_addresses_are_clash_free(name):
    groups, hostvars = _load(name)
    assert hosts_problems(groups["cluster"], hostvars) == []


@pytest.mark.parametrize("name", ["lab", "example"])
def test_ansible_reaches_each_node_at_its_cluster_address(name):
    hostvars = _load(name)[1]
    for host, hv in hostvars.items():
        assert hv["ansible_host"] == hv["havirt_cluster_address"], host


def test_lab_addresses_are_inside_the_lab_networks():
    import ipaddress

    hostvars = _load("lab")[1]
    for host, hv in hostvars.items():
        cluster = ipaddress.ip_network(hv["havirt_lab_cluster_network"]["subnet"])
        guests = ipaddress.ip_network(hv["havirt_lab_guest_network"]["subnet"])
        assert ipaddress.ip_address(hv["havirt_cluster_address"]) in cluster, host
        assert ipaddress.ip_address(hv["havirt_lab_guest_address"]) in guests, host
