# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the hypervisor role's inventory before any host is
touched: one hypervisor type for every hypervisor, and the host in the
group, one sentence per problem."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import not_in_group

DOCUMENTATION = r"""
name: hypervisor_problems
short_description: What is wrong with the hypervisors' type and group, before any host is touched
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - "Checks, for the hypervisor role: every hypervisor has the same C(havirt_hypervisor_type), C(kvm) or C(xen)
    (a VM cannot migrate between a KVM and a Xen host, nor fail over from one to the other), and the host the role
    runs on is in the hypervisors' group."
  - Returns every problem, one sentence each; an empty list means none.
options:
  _input:
    description: The hypervisors (the group's hosts).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars), where each hypervisor's C(havirt_hypervisor_type) is read (C(kvm) when unset).
    type: dict
    required: true
  host:
    description: The host the role runs on (C(inventory_hostname)).
    type: str
    required: true
  group:
    description: The hypervisors' group, for the messages.
    type: str
    default: hypervisors
"""

EXAMPLES = r"""
- name: Check the hypervisor settings
  vars:
    __problems: "{{ __hypervisor_hosts | havirt.cluster.hypervisor_problems(hostvars, inventory_hostname, group=hypervisor_group) }}"
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when there is none.
  type: list
  elements: str
  sample:
    - "The hypervisors need one hypervisor type for all (a VM cannot migrate between KVM and Xen): kvm on servvirt1,
      xen on servvirt2."
"""

TYPES = ("kvm", "xen")


def hypervisor_problems(hosts, hostvars, host, group="hypervisors"):
    """Every problem of the hypervisors' type and group, one sentence each; empty when none."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("hypervisor_problems: the hypervisors must be a list, got %r" % (hosts,))
    problems = []
    types = {}
    for name in hosts:
        value = (hostvars[name] if name in hostvars else {}).get("havirt_hypervisor_type", "kvm")
        types.setdefault(value, []).append(name)
    unknown = sorted(str(value) for value in types if value not in TYPES)
    if unknown:
        problems.append("havirt_hypervisor_type must be kvm or xen, not %s." % ", ".join(unknown))
    if len(types) > 1:
        problems.append("The hypervisors need one hypervisor type for all (a VM cannot migrate between KVM and Xen): "
                        "%s." % ", ".join("%s on %s" % (value, ", ".join(names)) for value, names in types.items()))
    stranger = not_in_group(host, hosts, group, "the hypervisor role runs on the hypervisors only")
    if stranger:
        problems.append(stranger)
    return problems


class FilterModule:
    """havirt.cluster filters for the hypervisor role."""

    def filters(self):
        return {"hypervisor_problems": hypervisor_problems}
