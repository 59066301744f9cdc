#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_standby
short_description: Put a cluster node in standby (nothing runs on it) or take it out
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    With O(state=present) the node's permanent C(standby) attribute is set (C(crm_attribute --node NODE --name
    standby --update on)): pacemaker stops or moves every resource of the node and starts nothing there, not even
    the resources of another node that fails, until the attribute is removed. The node's cluster stack keeps
    running and it keeps its vote. With O(state=absent) the attribute is removed.
  - >-
    Reads the node's standby from C(crm_mon --output-as=xml) and changes only what differs. After a change it
    waits for the cluster to settle (C(crm_resource --wait)), up to O(wait) seconds.
  - >-
    Runs on any node of the cluster. The live moves that should come before a standby (pacemaker itself would stop
    a VM whose disk it cannot migrate) are C(maintenance.yml)'s.
options:
  node:
    description: The node (its name in the cluster, the inventory name).
    type: str
    required: true
  state:
    description: V(present) puts the node in standby; V(absent) takes it out.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Seconds to wait for the cluster to settle after a change; 0 does not wait.
    type: int
    default: 120
requirements:
  - pacemaker's command line tools (crm_mon, crm_attribute, crm_resource) on the node
attributes:
  check_mode:
    description: Reads the node's state and says what it would change; changes nothing.
    support: full
  diff_mode:
    description: The node's standby before and after.
    support: full
"""

EXAMPLES = r"""
- name: Put servvirt1 in standby once its VMs have left it
  havirt.cluster.pacemaker_standby:
    node: servvirt1

- name: Take it out again
  havirt.cluster.pacemaker_standby:
    node: servvirt1
    state: absent
"""

RETURN = r"""
before:
  description: Whether the node was in standby.
  returned: always
  type: bool
  sample: false
commands:
  description: The commands run (to be run, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["crm_attribute --node servvirt1 --name standby --update on", "crm_resource --wait --timeout 120s"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import StatusError, parse_crm_mon


class Refused(Exception):
    """A step failed; main() reports it with fail_json."""


def plan(nodes, node, state, wait):
    """(standby before, the commands' argument lists) that take ``node`` to
    ``state``, from parse_crm_mon()'s nodes; Refused for a node the cluster
    does not know."""
    if node not in nodes:
        raise Refused("the cluster has no node %s (its nodes: %s). Nothing was changed."
                      % (node, ", ".join(sorted(nodes)) or "none"))
    before = nodes[node]["standby"]
    if before == (state == "present"):
        return before, []
    change = ["--update", "on"] if state == "present" else ["--delete"]
    steps = [["crm_attribute", "--node", node, "--name", "standby"] + change]
    if wait > 0:
        steps.append(["crm_resource", "--wait", "--timeout", "%ss" % wait])
    return before, steps


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            wait=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C")
    params = module.params
    result = dict(changed=False, before=None, commands=[])
    try:
        crm_mon = module.get_bin_path("crm_mon")
        if not crm_mon:
            raise Refused("crm_mon was not found: pacemaker is not installed on this node")
        rc, out, err = module.run_command([crm_mon, "--one-shot", "--output-as=xml"])
        if rc != 0:
            raise Refused("crm_mon answered rc %s: %s. Is pacemaker running on this node (systemctl status "
                          "pacemaker)?" % (rc, (err or out).strip()))
        try:
            nodes = parse_crm_mon(out)["nodes"]
        except StatusError as exc:
            raise Refused("cannot read crm_mon's answer: %s" % exc)
        before, steps = plan(nodes, params["node"], params["state"], params["wait"])
        result.update(before=before, changed=bool(steps), commands=[" ".join(step) for step in steps])
        if not module.check_mode:
            for step in steps:
                rc, out, err = module.run_command([module.get_bin_path(step[0], required=True)] + step[1:])
                if rc != 0:
                    raise Refused("'%s' failed (rc %s): %s" % (" ".join(step), rc, (err or out).strip()))
    except Refused as exc:
        module.fail_json(msg=str(exc), **result)

    if module._diff and result["before"] is not None:
        after = params["state"] == "present"
        result["diff"] = dict(before="%s: standby %s\n" % (params["node"], "on" if result["before"] else "off"),
                              after="%s: standby %s\n" % (params["node"], "on" if after else "off"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
