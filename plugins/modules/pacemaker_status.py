#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_status
short_description: Read the cluster manager's view (nodes, quorum, resources, failures) as data
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Runs C(crm_mon --one-shot --output-as=xml) and C(cibadmin --query) of the C(resources), C(nodes) and
    C(crm_config) sections on a cluster node and returns what they say as data, parsed in Python. The
    nodes (online, standby, maintenance, unclean), quorum and the designated controller, every resource
    (where it runs, its role, whether the cluster manages and monitors it, its meta attributes), the
    failed actions, what each node offers to the placement strategy (its utilization attributes) and
    that strategy.
  - Says which resources the cluster does not watch now (in maintenance, unmanaged, or left in the
    middle of a move by C(migrate.yml), which the C(havirt-move) meta attribute marks), so that a VM
    forgotten in maintenance is never silent.
  - Reads only. Of the CIB only meta attributes are read; instance attributes (which may hold a fence
    device's password) are neither parsed nor returned, so the result needs no C(no_log).
requirements:
  - pacemaker's command line tools (C(crm_mon), C(cibadmin)) on the node
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
options:
  require_running:
    description:
      - Fail when the cluster manager does not answer (not installed or not running on this node).
        When false, the module returns RV(available=false) and RV(error) instead.
    type: bool
    default: true
  resources:
    description:
      - Resource ids that must exist in the cluster's configuration. The module fails, naming those it
        lacks, when one is missing.
    type: list
    elements: str
    default: []
notes:
  - Run it on one cluster node (C(run_once)); every node has the same view.
"""

EXAMPLES = r"""
- name: Read the cluster's state
  havirt.cluster.pacemaker_status:
  register: cluster
  run_once: true

- name: Make sure the VM's resource exists before moving it
  havirt.cluster.pacemaker_status:
    resources: [vm-passata]
  run_once: true

- name: Print the resources the cluster does not watch
  ansible.builtin.debug:
    msg: "{{ cluster.unwatched }}"
  run_once: true
"""

RETURN = r"""
available:
  description: Whether the cluster manager answered on this node.
  returned: always
  type: bool
  sample: true
error:
  description: Why the cluster manager did not answer (empty when it did).
  returned: always
  type: str
  sample: "crm_mon: Error: cluster is not available on this node"
quorum:
  description: Whether the cluster has quorum.
  returned: when available
  type: bool
  sample: true
dc:
  description: The designated controller (empty when there is none).
  returned: when available
  type: str
  sample: servdb
maintenance_mode:
  description: Whether the whole cluster is in maintenance mode.
  returned: when available
  type: bool
  sample: false
nodes:
  description: Each node by name.
  returned: when available
  type: dict
  sample: {"servvirt1": {"online": true, "standby": false, "maintenance": false, "unclean": false}}
resources:
  description:
    - Each resource by id (C(target_role) is its target-role meta attribute as crm_mon shows it, or empty). A clone
      has its own entry (C(nodes) where any instance is active, C(promoted)
      where one is promoted) beside its instances'. C(meta) holds the meta attributes from the CIB, C(move)
      an interrupted move's source and destination, or null.
  returned: when available
  type: dict
  sample:
    vm-passata:
      id: vm-passata
      agent: "ocf:heartbeat:VirtualDomain"
      role: Started
      target_role: ""
      active: true
      managed: true
      maintenance: false
      failed: false
      blocked: false
      nodes: [servvirt1]
      parent: null
      meta: {"allow-migrate": "true"}
      move: null
failures:
  description: The failed actions crm_mon lists.
  returned: when available
  type: list
  elements: dict
  sample: [{"op_key": "vm-passata_monitor_10000", "node": "servvirt1", "exitstatus": "not running", "exitreason": "",
            "last_rc_change": "2026-12-04 17:42:52Z"}]
capacity:
  description:
    - Each node's utilization attributes (what it offers VMs when RV(placement_strategy) is not C(default)); an
      empty dict for a node without them.
  returned: when available
  type: dict
  sample: {"servvirt1": {"cpu": 8, "hv_memory": 3072, "host_memory": 3072}, "servdb": {}}
placement_strategy:
  description: The cluster property C(placement-strategy) (C(default) when unset, as pacemaker reads it).
  returned: when available
  type: str
  sample: balanced
resource_defaults:
  description:
    - The meta attributes every resource takes unless it sets its own (the CIB's C(rsc_defaults), blocks without a
      rule); an empty dict when the CIB has none.
  returned: when available
  type: dict
  sample: {"resource-stickiness": "100", "migration-threshold": "3", "failure-timeout": "10min"}
unwatched:
  description: The resources the cluster does not monitor or recover now, with the reason.
  returned: when available
  type: dict
  sample: {"vm-passata": "a move servvirt1 -> servvirt2 was interrupted, in maintenance"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    StatusError, merge, parse_crm_mon, parse_meta, parse_node_utilization, parse_property, parse_resource_defaults,
    unwatched)


class NotAnswering(Exception):
    """The cluster manager did not answer on this node."""


def read(module):
    """The merged view, or NotAnswering."""
    crm_mon = module.get_bin_path("crm_mon")
    cibadmin = module.get_bin_path("cibadmin")
    if not crm_mon or not cibadmin:
        raise NotAnswering("crm_mon/cibadmin not found: pacemaker is not installed on this node")
    env = dict(LC_ALL="C")
    rc, out, err = module.run_command([crm_mon, "--one-shot", "--output-as=xml"], environ_update=env)
    if rc != 0:
        raise NotAnswering("crm_mon answered rc %s: %s" % (rc, (err or out).strip()))
    status = parse_crm_mon(out)
    sections = {}
    for scope in ("resources", "nodes", "crm_config"):
        rc, out, err = module.run_command([cibadmin, "--query", "--scope", scope], environ_update=env)
        if rc != 0:
            raise NotAnswering("cibadmin --query --scope %s answered rc %s: %s" % (scope, rc, err.strip()))
        sections[scope] = out
    status = merge(status, parse_meta(sections["resources"]))
    status["capacity"] = parse_node_utilization(sections["nodes"])
    status["placement_strategy"] = parse_property(sections["crm_config"], "placement-strategy", "default")
    # A CIB without resource defaults has no such section: cibadmin fails
    # on the scope, and every resource keeps pacemaker's own defaults.
    rc, out, err = module.run_command([cibadmin, "--query", "--scope", "rsc_defaults"], environ_update=env)
    status["resource_defaults"] = parse_resource_defaults(out) if rc == 0 else {}
    return status


def main():
    module = AnsibleModule(
        argument_spec=dict(
            require_running=dict(type="bool", default=True),
            resources=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        status = read(module)
    except NotAnswering as error:
        if module.params["require_running"] or module.params["resources"]:
            module.fail_json(msg="The cluster manager does not answer on this node: %s. Is pacemaker running "
                                 "(systemctl status pacemaker corosync)?" % error, available=False, error=str(error))
        module.exit_json(changed=False, available=False, error=str(error))
    except StatusError as error:
        module.fail_json(msg="Cannot read the cluster manager's answer: %s" % error, available=False, error=str(error))

    missing = [rid for rid in module.params["resources"] if rid not in status["resources"]]
    result = dict(changed=False, available=True, error="",
                  unwatched=dict((rid, unwatched(r)) for rid, r in status["resources"].items() if unwatched(r)),
                  **status)
    if missing:
        result["msg"] = ("The cluster has no resource %s, which the inventory says it manages: run site.yml to "
                         "create it (or set havirt_vms_cluster_managed: false if the cluster must not run these "
                         "VMs). Nothing was changed." % ", ".join(missing))
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
