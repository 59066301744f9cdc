#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_maintenance
short_description: Take a VM's cluster resources out of the cluster's hands for a move, and give them back
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    The cluster manager's side of a live migration that the cluster does not drive itself
    (C(migrate.yml)). With O(state=present) the VM's resource (the first of O(resources)) is marked
    with the move (the O(mark_name) meta attribute, C(SOURCE:DESTINATION)) and then every resource is
    put in maintenance (C(maintenance=true)): pacemaker neither monitors, stops nor restarts them while
    the VM moves. The mark comes first, so that a run killed at any later step leaves a resource that
    C(status.yml) names and the next run settles.
  - >-
    With O(state=absent) the resources are handed back: refreshed (C(crm_resource --refresh), so that
    the cluster probes where the VM and its disk are now), the cluster's probes awaited
    (C(crm_resource --wait)), maintenance lifted, and the mark dropped last. A mark left without
    maintenance (a run killed between the two) is dropped alone.
  - >-
    Reads the meta attributes from the CIB (C(cibadmin --query --scope resources)) and changes only what
    differs: running it again changes nothing.
  - >-
    Runs on any node of the cluster.
options:
  resources:
    description:
      - >-
        The cluster resource ids. The first is the VM's (it carries the mark), the others what it needs moved
        with it (the clone of its DRBD resource).
    type: list
    elements: str
    required: true
  state:
    description: V(present) takes them out of the cluster's hands with the mark; V(absent) gives them back.
    type: str
    choices: [present, absent]
    default: present
  mark:
    description: The move, C(SOURCE:DESTINATION) (inventory names). Required with O(state=present).
    type: str
  mark_name:
    description: The meta attribute that marks a move (C(status.yml) and M(havirt.cluster.pacemaker_status) read it).
    type: str
    default: havirt-move
  wait:
    description: Seconds to wait for the cluster's probes after the refresh, before maintenance is lifted.
    type: int
    default: 60
requirements:
  - pacemaker's command line tools (crm_resource, cibadmin) on the node
attributes:
  check_mode:
    description: Reads the CIB and says what it would change; changes nothing.
    support: full
  diff_mode:
    description: Each resource's maintenance and mark before and after.
    support: full
"""

EXAMPLES = r"""
- name: Take passata and its disk out of the cluster's hands for its move
  havirt.cluster.pacemaker_maintenance:
    resources: [havirt_vm_passata, havirt_drbd_passata-clone]
    mark: servvirt1:servvirt2

- name: Give them back once the VM runs where it is going (or where it was)
  havirt.cluster.pacemaker_maintenance:
    resources: [havirt_vm_passata, havirt_drbd_passata-clone]
    state: absent
"""

RETURN = r"""
before:
  description: Each resource's maintenance (bool) and mark (the VM's only) before the run.
  returned: always
  type: dict
  sample: {"havirt_vm_passata": {"maintenance": false, "mark": ""}}
commands:
  description: The crm_resource commands run (to be run, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["crm_resource --resource havirt_vm_passata --meta --set-parameter havirt-move --parameter-value servvirt1:servvirt2"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import StatusError, parse_meta

# crm_resource --delete-parameter for an attribute that is not set (CRM_EX_NOSUCH).
NOT_SET = 105


class Refused(Exception):
    """A step failed; main() reports it with fail_json."""


def current(meta, resources, mark_name):
    """{resource: {"maintenance": bool, "mark": str}} from parse_meta()'s
    result; the mark is read on the first resource only."""
    state = {}
    for index, rid in enumerate(resources):
        values = meta.get(rid, {})
        state[rid] = dict(maintenance=values.get("maintenance", "false").lower() in ("true", "yes", "on", "1", "y"),
                          mark=values.get(mark_name, "") if index == 0 else "")
    return state


def plan(state, resources, wanted, mark, mark_name, wait):
    """The crm_resource argument lists that take ``state`` to ``wanted``,
    in the order that keeps a killed run visible (mark before maintenance,
    maintenance lifted before the mark goes)."""
    vm = resources[0]
    steps = []
    if wanted == "present":
        if state[vm]["mark"] != mark:
            steps.append(["--resource", vm, "--meta", "--set-parameter", mark_name, "--parameter-value", mark])
        steps += [["--resource", rid, "--meta", "--set-parameter", "maintenance", "--parameter-value", "true"]
                  for rid in resources if not state[rid]["maintenance"]]
        return steps
    held = [rid for rid in resources if state[rid]["maintenance"]]
    if held:
        steps += [["--refresh", "--resource", rid] for rid in reversed(resources)]
        steps.append(["--wait", "--timeout", "%ss" % wait])
        steps += [["--resource", rid, "--meta", "--delete-parameter", "maintenance"] for rid in held]
    if state[vm]["mark"]:
        steps.append(["--resource", vm, "--meta", "--delete-parameter", mark_name])
    return steps


def _read(module):
    cibadmin = module.get_bin_path("cibadmin")
    if not cibadmin:
        raise Refused("cibadmin was not found: pacemaker is not installed on this node")
    rc, out, err = module.run_command([cibadmin, "--query", "--scope", "resources"])
    if rc != 0:
        raise Refused("cibadmin --query answered rc %s: %s. Is pacemaker running on this node (systemctl status "
                      "pacemaker)?" % (rc, (err or out).strip()))
    try:
        return parse_meta(out)
    except StatusError as exc:
        raise Refused("cannot read the CIB's resources: %s" % exc)


def _show(state):
    return "".join("%s: maintenance %s%s\n" % (rid, "on" if s["maintenance"] else "off",
                                               ", move %s" % s["mark"] if s["mark"] else "")
                   for rid, s in state.items())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            resources=dict(type="list", elements="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            mark=dict(type="str"),
            mark_name=dict(type="str", default="havirt-move"),
            wait=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ("mark",))],
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C")
    params = module.params
    resources = params["resources"]
    result = dict(changed=False, before={}, commands=[])
    if not resources:
        module.fail_json(msg="resources is empty: name the VM's cluster resource. Nothing was changed.", **result)
    try:
        meta = _read(module)
        missing = [rid for rid in resources if rid not in meta]
        if missing:
            raise Refused("the cluster has no resource %s: run site.yml to create it. Nothing was changed."
                          % ", ".join(missing))
        before = current(meta, resources, params["mark_name"])
        result["before"] = before
        steps = plan(before, resources, params["state"], params["mark"], params["mark_name"], params["wait"])
        crm_resource = module.get_bin_path("crm_resource", required=True)
        result["commands"] = [" ".join(["crm_resource"] + step) for step in steps]
        result["changed"] = any("--refresh" not in step and "--wait" not in step for step in steps)
        if not module.check_mode:
            for step in steps:
                rc, out, err = module.run_command([crm_resource] + step)
                if rc != 0 and not (rc == NOT_SET and "--delete-parameter" in step):
                    raise Refused("'crm_resource %s' failed (rc %s): %s" % (" ".join(step), rc, (err or out).strip()))
    except Refused as exc:
        module.fail_json(msg=str(exc), **result)

    if module._diff:
        after = dict((rid, dict(maintenance=params["state"] == "present",
                                mark=(params["mark"] if params["state"] == "present" and index == 0 else "")))
                     for index, rid in enumerate(resources))
        result["diff"] = dict(before=_show(result["before"]), after=_show(after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
