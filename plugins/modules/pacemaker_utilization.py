#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_utilization
short_description: Set what a cluster node offers its resources (pacemaker utilization attributes)
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Sets the utilization attributes of one node of a pacemaker cluster (for example C(hv_memory) and C(cpu)), the
    capacity that C(placement-strategy) weighs against what each resource needs, so that a node is never given
    more VMs than it can hold.
  - Reads the CIB's C(nodes) section with C(cibadmin --query), compares each attribute given with the node's, and
    changes only those that differ, each with C(crm_attribute --utilization). Attributes not given are left as
    they are; so are the node's other attributes (C(standby), maintenance).
  - Set the capacity on every node before setting C(placement-strategy) to anything but C(default); pacemaker
    takes a node without an attribute that a resource needs as having none of it, and stops the resource there.
requirements:
  - pacemaker's command line tools (C(cibadmin), C(crm_attribute)), on a node where the cluster runs
attributes:
  check_mode:
    description: Reads the CIB and says what would change; writes nothing.
    support: full
  diff_mode:
    description: Returns the node's attributes before and after.
    support: full
options:
  node:
    description: The node's name as the cluster knows it (its C(uname) in the CIB's C(nodes) section).
    type: str
    required: true
  utilization:
    description: Attribute name to value (a whole number, 0 or more), for example C(hv_memory=3072) and C(cpu=8).
    type: dict
    required: true
notes:
  - Runs against the cluster from any one node; delegate it or use C(run_once) with a loop over the nodes.
"""

EXAMPLES = r"""
- name: Each hypervisor offers its memory less 1 GiB for the host, and 4 vCPUs per core
  havirt.cluster.pacemaker_utilization:
    node: "{{ item }}"
    utilization:
      hv_memory: "{{ hostvars[item].ansible_facts.memtotal_mb - 1024 }}"
      cpu: "{{ hostvars[item].ansible_facts.processor_vcpus * 4 }}"
  loop: "{{ groups['hypervisors'] }}"
  run_once: true
"""

RETURN = r"""
before:
  description: The node's utilization attributes before.
  returned: always
  type: dict
  sample: {"hv_memory": 2048}
after:
  description: The node's utilization attributes after (or as they would be, in check mode).
  returned: always
  type: dict
  sample: {"hv_memory": 3072, "cpu": 8}
updated:
  description: The attributes that were (or would be) changed.
  returned: always
  type: list
  elements: str
  sample: [hv_memory, cpu]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    StatusError, parse_node_utilization)


def plan(nodes, node, wanted):
    """(before, after, names to update) for one node; ValueError when the
    cluster does not know the node or a value is not a whole number."""
    if node not in nodes:
        raise ValueError("the cluster does not know a node %s (its nodes: %s): is it a member that has joined? "
                         "(crm_mon -1)" % (node, ", ".join(sorted(nodes)) or "none"))
    clean = {}
    for name, value in wanted.items():
        try:
            number = int(str(value).strip())
        except ValueError:
            number = -1
        if number < 0:
            raise ValueError("utilization %s=%r for %s is not a whole number of 0 or more" % (name, value, node))
        clean[name] = number
    before = dict(nodes[node])
    after = dict(before, **clean)
    return before, after, sorted(name for name in clean if before.get(name) != clean[name])


def main():
    module = AnsibleModule(
        argument_spec=dict(node=dict(type="str", required=True), utilization=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    node = module.params["node"]
    cibadmin, crm_attribute = module.get_bin_path("cibadmin"), module.get_bin_path("crm_attribute")
    if not cibadmin or not crm_attribute:
        module.fail_json(msg="cibadmin/crm_attribute not found: install pacemaker's command line tools "
                             "(Debian: pacemaker-cli-utils) on this node")
    env = dict(LC_ALL="C")
    rc, out, err = module.run_command([cibadmin, "--query", "--scope", "nodes"], environ_update=env)
    if rc != 0:
        module.fail_json(msg="cannot read the cluster's nodes (cibadmin --query --scope nodes, rc %d): %s. Is the "
                             "cluster running on this node? (systemctl status corosync pacemaker)"
                             % (rc, (err or out).strip()))
    try:
        before, after, updated = plan(parse_node_utilization(out), node, module.params["utilization"])
    except (StatusError, ValueError) as error:
        module.fail_json(msg="%s. Nothing was changed." % error)
    result = dict(changed=bool(updated), before=before, after=after, updated=updated)
    if module._diff:
        result["diff"] = dict(before="".join("%s=%s\n" % item for item in sorted(before.items())),
                              after="".join("%s=%s\n" % item for item in sorted(after.items())),
                              before_header="%s utilization" % node, after_header="%s utilization" % node)
    if module.check_mode:
        module.exit_json(**result)
    for name in updated:
        rc, out, err = module.run_command([crm_attribute, "--node", node, "--utilization", "--name", name,
                                           "--update", str(after[name])], environ_update=env)
        if rc != 0:
            module.fail_json(msg="crm_attribute could not set %s's utilization %s=%s (rc %d): %s" % (
                node, name, after[name], rc, (err or out).strip()), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
