#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: pacemaker_cib
short_description: Make one element of pacemaker's configuration (CIB) what it should be, and touch nothing else
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Manages one element of a section of the running cluster's configuration (the CIB), found by its
    C(id), for example a property set, a resource or fence device, a constraint, or a set of resource
    or operation defaults.
  - Reads the CIB with C(cibadmin --query), compares the element there with the one given by meaning
    (attribute order, white space and comments do not count) and, only when they differ, creates or
    replaces that element, or deletes it with O(state=absent). Every other element of the CIB is left
    as it is, whoever made it, unlike tools that replace the whole configuration.
  - The XML goes to C(cibadmin) on its standard input, never on the command line, so that secrets in
    it (a fence device's password) do not show in the process list. Use C(no_log) on the task for
    such elements, since the diff and the return values hold the XML.
notes:
  - Run it on one node of the cluster (C(run_once)); the cluster spreads the change.
  - Pacemaker itself writes some elements (for example the C(cib-bootstrap-options) property set);
    manage your own elements (your own ids) next to them rather than those.
requirements:
  - pacemaker's command line tools (C(cibadmin)), on a node where the cluster runs
attributes:
  check_mode:
    description: Reads the CIB and says what would change; writes nothing.
    support: full
  diff_mode:
    description: Returns the element before and after, as indented XML.
    support: full
options:
  section:
    description: Section of the CIB's C(configuration) that holds the element.
    type: str
    required: true
    choices: [crm_config, rsc_defaults, op_defaults, nodes, resources, constraints, fencing-topology, tags, alerts]
  xml:
    description:
      - The element, as XML text, with an C(id) attribute on its top element (and on every
        C(nvpair), C(op) and attribute set inside, as the CIB requires). Required with O(state=present).
    type: str
  id:
    description: Id of the element to delete. Required with O(state=absent).
    type: str
  state:
    description: Whether the element must be there as given or not be there at all.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Resource defaults of the cluster, in a set of our own
  havirt.cluster.pacemaker_cib:
    section: rsc_defaults
    xml: |
      <meta_attributes id="havirt-rsc-defaults">
        <nvpair id="havirt-rsc-defaults-resource-stickiness" name="resource-stickiness" value="100"/>
      </meta_attributes>
  run_once: true

- name: A fence device (its password comes from ansible-vault)
  havirt.cluster.pacemaker_cib:
    section: resources
    xml: "{{ lookup('ansible.builtin.template', 'fence-device.xml.j2') }}"
  run_once: true
  no_log: true

- name: A constraint we no longer want
  havirt.cluster.pacemaker_cib:
    section: constraints
    id: ban-passata-on-servdb
    state: absent
  run_once: true
"""

RETURN = r"""
id:
  description: Id of the element.
  returned: always
  type: str
  sample: havirt-rsc-defaults
action:
  description: What was done (or would be, in check mode).
  returned: always
  type: str
  choices: [none, create, create-section, replace, delete]
  sample: replace
before:
  description: The element as it was in the CIB (indented XML), or an empty string.
  returned: always
  type: str
  sample: '<meta_attributes id="havirt-rsc-defaults">...</meta_attributes>'
after:
  description: The element as it is now (indented XML), or an empty string once deleted.
  returned: always
  type: str
  sample: '<meta_attributes id="havirt-rsc-defaults">...</meta_attributes>'
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_cib import (
    SECTIONS, CibError, command, parse_element, plan, pretty,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            section=dict(type="str", required=True, choices=list(SECTIONS)),
            xml=dict(type="str"),
            id=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        required_if=[("state", "present", ("xml",)), ("state", "absent", ("id",))],
        supports_check_mode=True,
    )
    section, state = module.params["section"], module.params["state"]
    cibadmin = module.get_bin_path("cibadmin")
    if not cibadmin:
        module.fail_json(msg="cibadmin not found: install pacemaker's command line tools "
                             "(Debian: pacemaker-cli-utils) on this node")
    try:
        wanted = parse_element(module.params["xml"]) if state == "present" else None
        element_id = wanted.get("id") if wanted is not None else module.params["id"]
        rc, out, err = module.run_command([cibadmin, "--query"])
        if rc != 0:
            module.fail_json(msg="cannot read the cluster's configuration (cibadmin --query, rc %d): %s. Is the "
                                 "cluster running on this node? (systemctl status corosync pacemaker; crm_mon -1)"
                                 % (rc, (err or out).strip()), id=element_id)
        todo = plan(out, section, wanted=wanted, element_id=element_id)
    except CibError as error:
        module.fail_json(msg="%s: %s" % (section, error))

    after = {"none": todo["before"], "delete": None}.get(todo["action"], todo["after"])
    result = dict(changed=todo["action"] != "none", id=element_id, action=todo["action"],
                  before=pretty(todo["before"]), after=pretty(after))
    if module._diff:
        result["diff"] = dict(before=result["before"], after=result["after"],
                              before_header="cib %s/%s" % (section, element_id),
                              after_header="cib %s/%s" % (section, element_id))
    if todo["action"] == "none" or module.check_mode:
        module.exit_json(**result)

    args, data = command(todo["action"], section, wanted=todo["after"], current=todo["before"])
    rc, out, err = module.run_command([cibadmin] + args, data=data, binary_data=True)
    if rc != 0:
        module.fail_json(msg="cibadmin could not %s %s %r (rc %d): %s. Nothing else was changed."
                             % (todo["action"], section, element_id, rc, (err or out).strip()), id=element_id,
                         action=todo["action"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
