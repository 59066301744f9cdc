# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's connection URI of a hypervisor type, here or on another host:
the one place every role, playbook and template takes it from (the
hypervisor's own connection, the migration destination, the cluster's
VirtualDomain resources). Documented in libvirt_uri.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The hypervisor types of the inventory (havirt_hypervisor_type, and the vms
# role's domain types) and libvirt's driver for each.
DRIVERS = {"kvm": "qemu", "qemu": "qemu", "xen": "xen"}
TRANSPORTS = ("tls", "ssh")


def libvirt_uri(hypervisor_type, host=None, transport="tls", ssh_key=None, user="root"):
    """``qemu:///system`` or ``xen:///system`` without ``host``; with it,
    the connection to that host over ``transport``: ``DRIVER+tls://HOST/system``
    or ``DRIVER+ssh://USER@HOST/system`` (``?keyfile=KEY`` with ``ssh_key``).
    ``host`` may be a placeholder (DESTINATION, the VirtualDomain agent's %n)."""
    driver = DRIVERS.get(str(hypervisor_type).lower())
    if driver is None:
        raise AnsibleFilterError("libvirt_uri: hypervisor type %r is none of %s"
                                 % (hypervisor_type, ", ".join(sorted(DRIVERS))))
    if not host:
        return "%s:///system" % driver
    if transport not in TRANSPORTS:
        raise AnsibleFilterError("libvirt_uri: transport %r is none of %s" % (transport, ", ".join(TRANSPORTS)))
    if transport == "tls":
        return "%s+tls://%s/system" % (driver, host)
    uri = "%s+ssh://%s@%s/system" % (driver, user, host)
    return uri + ("?keyfile=%s" % ssh_key if ssh_key else "")


class FilterModule:
    def filters(self):
        return {"libvirt_uri": libvirt_uri}
