# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the ntp role's inventory before any host is touched:
its groups, the nodes' addresses and the time servers' sources, one
sentence per problem."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import (
    address_problems, as_int, group_hosts, group_list)

DOCUMENTATION = r"""
name: ntp_problems
short_description: What is wrong with the cluster's time servers and clients, before any host is touched
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - "Checks, for the ntp role: a non-empty group of time servers inside a non-empty group of every node; each
    node's address an IP address (the servers' addresses are what the clients ask, the clients' what the servers
    allow); a source for the time servers: upstream servers, or the local clock's fallback stratum above 0."
  - Returns every problem, one sentence each; an empty list means none.
options:
  _input:
    description: The inventory's C(groups).
    type: dict
    required: true
  hostvars:
    description: C(hostvars), where each node's address is read.
    type: dict
    required: true
  server_group:
    description: ntp_server_group.
    type: str
    default: storage
  cluster_group:
    description: ntp_cluster_group.
    type: str
    default: cluster
  address_variable:
    description: ntp_address_variable.
    type: str
    default: havirt_cluster_address
  upstream_servers:
    description: ntp_upstream_servers.
    type: list
    elements: dict
    default: []
  local_stratum:
    description: ntp_local_stratum.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Check the time servers, the nodes and their sources
  vars:
    __problems: >-
      {{ groups | havirt.cluster.ntp_problems(hostvars, server_group=ntp_server_group,
         cluster_group=ntp_cluster_group, address_variable=ntp_address_variable,
         upstream_servers=ntp_upstream_servers, local_stratum=ntp_local_stratum) }}
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when there is none.
  type: list
  elements: str
  sample:
    - "ntp_upstream_servers is empty and ntp_local_stratum is 0: the time servers would have no source and the
      cluster would never sync. List upstream servers or set ntp_local_stratum (10 is usual)."
"""


def ntp_problems(groups, hostvars, server_group="storage", cluster_group="cluster",
                 address_variable="havirt_cluster_address", upstream_servers=(), local_stratum=10):
    """Every problem of the ntp role's inventory, one sentence each; empty when none."""
    if not hasattr(groups, "get"):
        raise AnsibleFilterError("ntp_problems: the input must be the inventory's groups, got %r" % (groups,))
    servers, nodes = group_hosts(groups, server_group), group_hosts(groups, cluster_group)
    problems = []
    if not servers or not nodes or [server for server in servers if server not in nodes]:
        problems.append("ntp needs a non-empty group '%s' (the time servers) inside a non-empty group '%s' (every "
                        "node). The inventory has: %s." % (server_group, cluster_group, group_list(groups)))
    problems += ["%s." % problem for problem in
                 address_problems(nodes, hostvars, address_variable, "the time servers' and clients' address")]
    stratum = as_int(local_stratum)
    if not upstream_servers and stratum == 0:
        problems.append("ntp_upstream_servers is empty and ntp_local_stratum is 0: the time servers would have no "
                        "source and the cluster would never sync. List upstream servers or set ntp_local_stratum "
                        "(10 is usual).")
    elif stratum is None or not 0 <= stratum <= 15:
        problems.append("ntp_local_stratum %r must be a number from 0 (no fallback) to 15." % (local_stratum,))
    return problems


class FilterModule:
    """havirt.cluster filters for the ntp role."""

    def filters(self):
        return {"ntp_problems": ntp_problems}
