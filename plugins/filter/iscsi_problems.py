# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the iSCSI target's export, and with the portal the
initiators log in to, before any host is touched: one sentence per
problem. The IQN rule is the one the initiators' names follow
(module_utils/inventory_rules.py). Documented in iscsi_target_problems.yml
and iscsi_portal_problems.yml beside this file."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import (
    as_int, group_hosts, group_list, is_iqn, is_iscsi_name)

# What truncate --size takes for a new file: digits and a unit (20G, 512MiB).
SIZE = re.compile(r"^[1-9][0-9]*([KMGTPE](i?B)?)?$")
IQN_FORM = "iqn.YYYY-MM.reversed.domain:name, lower case"


def iscsi_target_problems(iqn, luns, groups, initiator_group="hypervisors", extra_initiators=()):
    """Every problem of the target's export, one sentence each; empty when none."""
    if not hasattr(groups, "get"):
        raise AnsibleFilterError("iscsi_target_problems: groups must be the inventory's groups, got %r" % (groups,))
    problems = []
    if not group_hosts(groups, initiator_group):
        problems.append("The target's ACL is built from group '%s', which is missing or empty in the inventory "
                        "(groups: %s). Put the hypervisors in it." % (initiator_group, group_list(groups)))
    if not is_iqn(iqn):
        problems.append("iscsi_target_iqn (havirt_iscsi_target_iqn) %r is not an IQN (%s)." % (iqn, IQN_FORM))
    if not isinstance(luns, (list, tuple)) or not luns:
        problems.append("iscsi_target_luns is empty: the target would export nothing.")
        luns = []
    owners = {}
    for number, lun in enumerate(luns, start=1):
        if not isinstance(lun, Mapping) or not isinstance(lun.get("path"), str) or not lun["path"].startswith("/"):
            problems.append("LUN %d: its path must be the absolute path of a block device or file (got %r)."
                            % (number, lun.get("path") if isinstance(lun, Mapping) else lun))
            continue
        path = lun["path"]
        if path in owners:
            problems.append("LUN %d: %s is already LUN %d: two LUNs on one device are one disk written by two "
                            "owners." % (number, path, owners[path]))
        owners.setdefault(path, number)
        size = lun.get("size")
        if size not in (None, "") and not SIZE.match(str(size)):
            problems.append("LUN %d: size %r of %s is not a size truncate takes (a number and a unit: 20G, 512MiB)."
                            % (number, size, path))
    for name in extra_initiators or []:
        if not is_iscsi_name(name):
            problems.append("iscsi_target_extra_initiators: %r is not an iSCSI name (%s, or eui. and 16 hex "
                            "digits)." % (name, IQN_FORM))
    return problems


def iscsi_portal_problems(iqn, address, port):
    """Every problem of the target an initiator logs in to, one sentence each; empty when none."""
    problems = []
    if not is_iqn(iqn):
        problems.append("iscsi_initiator_target_iqn (havirt_iscsi_target_iqn) %r is not an IQN (%s)." % (iqn, IQN_FORM))
    if not isinstance(address, str) or not address.strip():
        problems.append("iscsi_initiator_portal_address is empty: give the target's address (by default the "
                        "havirt_cluster_address of the first host of group 'storage').")
    number = as_int(port)
    if number is None or not 0 < number < 65536:
        problems.append("iscsi_initiator_portal_port %r is not a TCP port (1 to 65535)." % (port,))
    return problems


class FilterModule:
    """havirt.cluster filters for the iSCSI target and initiators."""

    def filters(self):
        return {"iscsi_target_problems": iscsi_target_problems, "iscsi_portal_problems": iscsi_portal_problems}
