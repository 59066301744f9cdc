# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How VMs move (plugins/filter/migration.py)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.migration import migration_stream, vm_live_migratable

# ansible_local.havirt_xen of a Xen lab hypervisor (Debian 13, Xen 4.20.5-pre, 2026-12-05).
DEBIAN13 = {"virt_caps": ["pv", "hvm", "hap", "gnttab-v1", "gnttab-v2"], "total_memory_mb": 3071,
            "dom0_memory_mb": 1024, "guest_memory_mb": 2047}
WITH_SHADOW = dict(DEBIAN13, virt_caps=["pv", "hvm", "hap", "shadow", "gnttab-v1", "gnttab-v2"])
PV = {"name": "speedauth", "kernel": "/var/lib/havirt/boot/vmlinux"}
HVM = {"name": "dns", "image": "debian.qcow2"}


@pytest.mark.parametrize("kind, transport, tls, options", [
    ("kvm", "tls", True, "--p2p --tls"),
    ("qemu", "tls", True, "--p2p --tls"),
    ("kvm", "ssh", False, "--p2p --tunnelled"),
    ("xen", "tls", False, "--p2p --tunnelled"),
    ("Xen", "ssh", False, "--p2p --tunnelled"),
])
def test_qemu_tls_on_kvm_over_tls_else_tunnelled(kind, transport, tls, options):
    assert migration_stream(kind, transport) == {"tls": tls, "tunnelled": not tls, "options": options}


@pytest.mark.parametrize("kind, transport", [("lxc", "tls"), ("kvm", "tcp")])
def test_unknown_types_and_transports_are_named(kind, transport):
    with pytest.raises(AnsibleFilterError, match="unknown"):
        migration_stream(kind, transport)


@pytest.mark.parametrize("vm, kind, facts, live", [
    (PV, "kvm", [DEBIAN13], True),
    (PV, "xen", [DEBIAN13, DEBIAN13], False),
    (PV, "xen", [WITH_SHADOW, DEBIAN13], False),
    (PV, "xen", [WITH_SHADOW, WITH_SHADOW], True),
    (HVM, "xen", [DEBIAN13], True),
    (PV, "xen", [], True),
    (PV, "xen", [{"error": "Failed to connect socket"}], True),
])
def test_a_pv_guest_moves_live_only_where_every_xen_has_shadow_paging(vm, kind, facts, live):
    hosts = ["servvirt%d" % (i + 1) for i in range(len(facts))]
    hostvars = {host: {"ansible_facts": {"ansible_local": {"havirt_xen": fact}}} for host, fact in zip(hosts, facts)}
    hostvars["servdb"] = {"ansible_facts": {}}
    assert vm_live_migratable(vm, kind, hosts + ["servvirt9"], hostvars) is live
