"""The hypervisor and xen_migration roles' checks (plugins/filter/
hypervisor_problems.py, migration_problems.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.hypervisor_problems import hypervisor_problems
from ansible_collections.havirt.cluster.plugins.filter.migration_problems import migration_problems

HOSTS = ["servvirt1", "servvirt2"]
PASSPHRASE = "ca-passphrase-never-shown"


def test_kvm_by_default_and_xen_for_all_pass():
    assert hypervisor_problems(HOSTS, {}, "servvirt1") == []
    xen = {host: {"havirt_hypervisor_type": "xen"} for host in HOSTS}
    assert hypervisor_problems(HOSTS, xen, "servvirt2") == []


def test_a_mixed_cluster_is_refused_naming_each_side():
    hostvars = {"servvirt2": {"havirt_hypervisor_type": "xen"}}
    assert hypervisor_problems(HOSTS, hostvars, "servvirt1") == [
        "The hypervisors need one hypervisor type for all (a VM cannot migrate between KVM and Xen): kvm on "
        "servvirt1, xen on servvirt2."]


def test_an_unknown_type_is_named():
    hostvars = {host: {"havirt_hypervisor_type": "vmware"} for host in HOSTS}
    assert hypervisor_problems(HOSTS, hostvars, "servvirt1") == ["havirt_hypervisor_type must be kvm or xen, not "
                                                                 "vmware."]


def test_a_host_outside_the_group_is_named():
    assert hypervisor_problems(HOSTS, {}, "servdb") == ["servdb is not in group 'hypervisors' (servvirt1, servvirt2): "
                                                        "the hypervisor role runs on the hypervisors only."]
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        hypervisor_problems("servvirt1", {}, "servvirt1")


def _settings(**changes):
    settings = {"transport": "tls", "ca_passphrase": PASSPHRASE, "postcopy": False, "parallel_connections": 1,
                "ssh_key": "/root/.ssh/havirt_migration"}
    settings.update(changes)
    return settings


def test_the_labs_settings_pass():
    assert migration_problems(_settings(), "servvirt1", HOSTS) == []
    assert migration_problems(_settings(transport="ssh", ca_passphrase=""), "servvirt1", HOSTS) == []
    assert migration_problems(_settings(postcopy=True, parallel_connections=4)) == []


@pytest.mark.parametrize("changes,expected", [
    ({"transport": "rdma"}, "xen_migration_transport must be tls or ssh, not 'rdma'."),
    ({"ca_passphrase": "short"}, "With the tls transport, the CA key needs a passphrase of at least 12 characters in "
                                 "xen_migration_ca_passphrase (havirt_pki_ca_passphrase, from ansible-vault)."),
    ({"ca_passphrase": None}, "With the tls transport, the CA key needs a passphrase of at least 12 characters"),
    ({"transport": "ssh", "postcopy": True}, "With the ssh transport, xen_migration_postcopy must be false: libvirt "
                                             "refuses post-copy in a tunnelled migration."),
    ({"transport": "ssh", "parallel_connections": "2"}, "With the ssh transport, xen_migration_parallel_connections "
                                                        "must be 1"),
    ({"parallel_connections": 0}, "xen_migration_parallel_connections must be a number of at least 1, not 0."),
    ({"ssh_key": "~/.ssh/key"}, "xen_migration_ssh_key must be an absolute path, not '~/.ssh/key'."),
])
def test_a_migration_problem_is_named_without_the_passphrase(changes, expected):
    problems = migration_problems(_settings(**changes))
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert PASSPHRASE not in problems[0] and "short" not in problems[0]


def test_a_host_outside_the_group_is_named_for_the_migration_path():
    assert migration_problems(_settings(), "servdb", HOSTS) == [
        "servdb is not in group 'hypervisors' (servvirt1, servvirt2): the migration path is set up on the hypervisors "
        "only."]
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        migration_problems("tls")
