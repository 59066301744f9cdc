# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisors' iSCSI initiator names, checked once with one rule for
both sides (the target's ACL, the initiators' own configuration), one
sentence per problem naming the host. Documented in initiator_problems.yml
beside this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import is_iscsi_name


def initiator_problems(hosts, hostvars, group="hypervisors", address_variable="havirt_cluster_address"):
    """Every problem of the initiators' names (and addresses), one sentence each; empty when none."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("initiator_problems: the hosts must be a list, got %r" % (hosts,))
    problems = []
    if not hosts:
        problems.append("group '%s' has no host: the target's ACL and the initiators come from it" % group)
    owners = {}
    for host in hosts:
        values = hostvars[host] if host in hostvars else {}
        name = values.get("iscsi_initiator_name")
        if name is None:
            problems.append("%s: no iscsi_initiator_name in the inventory: give each hypervisor its own "
                            "(iqn.YYYY-MM.reversed.domain:name)" % host)
        elif not is_iscsi_name(name):
            problems.append("%s: iscsi_initiator_name %r is not an iSCSI name (iqn.YYYY-MM.reversed.domain:name, "
                            "lower case, or eui. and 16 hex digits)" % (host, name))
        else:
            first = owners.setdefault(name, host)
            if first != host:
                problems.append("%s: iscsi_initiator_name %s is already %s's: each host needs its own, or the "
                                "target cannot tell them apart" % (host, name, first))
        if not values.get(address_variable):
            problems.append("%s: no %s (the target admits each initiator from it)" % (host, address_variable))
    return problems


class FilterModule:
    """havirt.cluster filters for iSCSI initiators."""

    def filters(self):
        return {"initiator_problems": initiator_problems}
