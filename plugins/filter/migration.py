# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the cluster's VMs move: the migration stream of a hypervisor type and
transport (migrate.yml's havirt.cluster.live_migrate and the cluster's
VirtualDomain resources take it from here), and whether a VM can be moved
live at all. Documented in migration_stream.yml and vm_live_migratable.yml."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.libvirt_uri import DRIVERS, TRANSPORTS


def migration_stream(hypervisor_type, transport="tls"):
    """{'tls', 'tunnelled', 'options'}: how a live migration's stream is
    protected. KVM over TLS: QEMU's own TLS (libvirt's --tls), the stream
    straight between the QEMUs. Over SSH, and always on Xen (libxl's stream
    is plain TCP): tunnelled in the libvirt connection. ``options``: the
    same as virsh options (VirtualDomain's migrate_options)."""
    driver = DRIVERS.get(str(hypervisor_type).lower())
    if driver is None or transport not in TRANSPORTS:
        raise AnsibleFilterError("migration_stream: hypervisor type %r or transport %r unknown (types: %s; "
                                 "transports: %s)" % (hypervisor_type, transport, ", ".join(sorted(DRIVERS)),
                                                      ", ".join(TRANSPORTS)))
    tls = driver == "qemu" and transport == "tls"
    return {"tls": tls, "tunnelled": not tls, "options": "--p2p --tls" if tls else "--p2p --tunnelled"}


def vm_live_migratable(vm, hypervisor_type, hypervisors=(), hostvars=None):
    """Whether the cluster may move the VM ``vm`` (an item of havirt_vms)
    live. Always on KVM. On Xen a VM booted from a kernel file runs PV (the
    vms role), and a PV guest's live migration needs Xen's shadow paging:
    not when the Xen of any of ``hypervisors`` lacks it (their facts in
    ``hostvars``: ansible_local.havirt_xen.virt_caps, the hypervisor role's
    local fact; Debian 13's Xen has no "shadow"). Unknown capabilities say
    yes."""
    if str(hypervisor_type).lower() != "xen" or not isinstance(vm, Mapping) or not vm.get("kernel"):
        return True
    for host in hypervisors or []:
        facts = ((hostvars or {}).get(host) or {}).get("ansible_facts") or {}
        caps = ((facts.get("ansible_local") or {}).get("havirt_xen") or {}).get("virt_caps")
        if isinstance(caps, list) and "shadow" not in caps:
            return False
    return True


class FilterModule:
    def filters(self):
        return {"migration_stream": migration_stream, "vm_live_migratable": vm_live_migratable}
