#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: o2cb
short_description: Manage an OCFS2 O2CB cluster in /etc/ocfs2/cluster.conf with o2cb
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Makes one cluster of the O2CB configuration file hold exactly the nodes given (name, IPv4 address,
    port and node number), through the C(o2cb) commands of ocfs2-tools (C(add-cluster), C(add-node),
    C(remove-node), C(heartbeat-mode), C(remove-cluster)); it reads the state with C(list-clusters)
    and C(list-cluster).
  - Missing nodes are added and nodes not listed are removed. C(o2cb) cannot edit a node, so a node
    whose address, port or number changed is removed and added again (RV(replaced)). Every removal
    runs before any addition, so numbers and addresses can move from one node to another.
  - Every node is checked before anything is changed; C(o2cb) itself accepts duplicate addresses,
    any port and any node name, which the kernel later refuses.
  - Only the configuration file changes. A running (registered) cluster takes the change at the next
    C(o2cb register-cluster) or C(systemctl restart o2cb); the module never touches the running stack.
    Other clusters of the file and the heartbeat regions of this one are kept. C(o2cb) rewrites the
    whole file on every change, dropping comments.
notes:
  - The node name must be the host name of that node as printed by C(hostname) (or its part before the
    first dot); this is how O2CB finds the local node. The module warns when no node of the list is the
    host it runs on.
  - All nodes of a cluster need the same node list; run the module on every node.
  - Check mode computes the plan, returns the commands that would run and the predicted file with
    C(--diff), and changes nothing. It needs ocfs2-tools installed, like a real run.
requirements:
  - ocfs2-tools (the C(o2cb) command)
attributes:
  check_mode:
    description: Can run in check mode and return the changed status without changing the file.
    support: full
  diff_mode:
    description: Returns the file before and after the change (predicted in check mode).
    support: full
options:
  cluster_name:
    description:
      - Name of the cluster, 1 to 16 letters and digits (no C(-), C(_) or C(.)); case-sensitive.
      - It must match C(O2CB_BOOTCLUSTER) in C(/etc/default/o2cb) for C(o2cb.service) to start it.
    type: str
    required: true
  nodes:
    description:
      - The nodes of the cluster, all of them. Required with O(state=present); an empty list leaves
        the cluster without nodes.
    type: list
    elements: dict
    suboptions:
      name:
        description: Host name of the node, as printed by C(hostname) on that node (at most 64 characters).
        type: str
        required: true
      ip:
        description: IPv4 address the node listens on for the cluster interconnect (O2CB takes no IPv6).
        type: str
        required: true
      number:
        description: Node number, 0 to 254, unique in the cluster.
        type: int
        required: true
      port:
        description: TCP port of the interconnect, 1 to 65535.
        type: int
        default: 7777
  heartbeat_mode:
    description:
      - Heartbeat mode of the cluster (C(o2cb heartbeat-mode)). V(global) also needs heartbeat regions,
        which this module does not manage.
      - When not set, a new cluster gets o2cb's default (V(local)) and an existing one keeps its mode.
    type: str
    choices: [local, global]
  state:
    description:
      - V(present) makes the cluster exist with exactly O(nodes).
      - V(absent) removes the cluster, its nodes and its heartbeat regions from the file.
    type: str
    choices: [present, absent]
    default: present
  config_file:
    description: The O2CB configuration file (C(o2cb --config-file)). Its directory must exist.
    type: path
    default: /etc/ocfs2/cluster.conf
seealso:
  - name: o2cb(8)
    description: The o2cb command.
    link: https://manpages.debian.org/bookworm/ocfs2-tools/o2cb.8.en.html
  - name: ocfs2.cluster.conf(5)
    description: The configuration file.
    link: https://manpages.debian.org/bookworm/ocfs2-tools/ocfs2.cluster.conf.5.en.html
"""

EXAMPLES = r"""
- name: Three-node O2CB cluster, the same on every node
  havirt.cluster.o2cb:
    cluster_name: havirt
    nodes:
      - {name: servdb, ip: 10.210.3.10, number: 0}
      - {name: servvirt1, ip: 10.210.3.11, number: 1}
      - {name: servvirt2, ip: 10.210.3.12, number: 2}
  notify: Restart o2cb

- name: Move servvirt1 to a new address (o2cb removes the node and adds it again)
  havirt.cluster.o2cb:
    cluster_name: havirt
    nodes:
      - {name: servdb, ip: 10.210.3.10, number: 0}
      - {name: servvirt1, ip: 10.210.3.21, number: 1}
      - {name: servvirt2, ip: 10.210.3.12, number: 2}
  register: o2cb_result  # o2cb_result.replaced == ['servvirt1']

- name: Global heartbeat mode
  havirt.cluster.o2cb:
    cluster_name: havirt
    heartbeat_mode: global
    nodes: "{{ ocfs2_nodes }}"

- name: Remove the cluster from the file
  havirt.cluster.o2cb:
    cluster_name: havirt
    state: absent
"""

RETURN = r"""
cluster:
  description: The cluster after the change as C(o2cb list-cluster) shows it (predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
    heartbeat_mode:
      description: V(local) or V(global).
      type: str
    node_count:
      description: Number of nodes.
      type: int
    nodes:
      description: The nodes, each with C(name), C(ip), C(port) and C(number), in the file's order.
      type: list
      elements: dict
  sample:
    name: havirt
    heartbeat_mode: local
    node_count: 2
    nodes:
      - {name: servdb, ip: 10.210.3.10, port: 7777, number: 0}
      - {name: servvirt1, ip: 10.210.3.11, port: 7777, number: 1}
added:
  description: Names of the nodes added.
  returned: always
  type: list
  elements: str
  sample: [servvirt2]
removed:
  description: Names of the nodes removed (with O(state=absent), the nodes the removed cluster had).
  returned: always
  type: list
  elements: str
  sample: [oldnode]
replaced:
  description: Names of the nodes removed and added again because their address, port or number changed.
  returned: always
  type: list
  elements: str
  sample: [servvirt1]
commands:
  description: The o2cb commands run, or in check mode the ones that would run, as argument lists.
  returned: always
  type: list
  elements: list
  sample:
    - [/usr/sbin/o2cb, --config-file, /etc/ocfs2/cluster.conf, remove-node, havirt, servvirt1]
    - [/usr/sbin/o2cb, --config-file, /etc/ocfs2/cluster.conf, add-node, havirt, servvirt1, --ip, 10.210.3.21,
       --port, '7777', --number, '1']
"""

import errno
import os
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.o2cb import (
    O2cbConfigError,
    cluster_name_problem,
    cluster_summary,
    explain_error,
    find_cluster,
    node_is_local,
    node_problems,
    parse_config,
    parse_list_clusters,
    plan,
    render_config,
    replace_cluster,
)


class O2cb(object):
    """Runs o2cb on one configuration file; every failure ends the module with what o2cb said."""

    def __init__(self, module, config_file):
        self.module = module
        self.ran = []
        binary = module.get_bin_path("o2cb")
        if not binary:
            module.fail_json(msg="o2cb was not found in PATH: install the ocfs2-tools package "
                                 "(apt-get install ocfs2-tools) before managing an OCFS2 cluster")
        self.prefix = [binary, "--config-file", config_file]

    def run(self, args, change=False):
        argv = self.prefix + list(args)
        rc, out, err = self.module.run_command(argv)
        if change:
            self.ran.append(argv)
        # o2cb exits 0 after some errors ("Unknown cluster", "Cluster ... already
        # exists") and prints nothing on stderr when it succeeds.
        if rc != 0 or err.strip():
            said = err.strip() or out.strip() or "no output"
            hint = explain_error(err)
            if hint:
                said += "; " + hint
            self.module.fail_json(
                msg="'%s' failed (rc=%d): %s" % (" ".join(argv), rc, said),
                cmd=argv, rc=rc, stdout=out, stderr=err, commands=self.ran)
        return out

    def cluster(self, name):
        """The parsed cluster ``name``, or None when the file does not have it."""
        if name not in parse_list_clusters(self.run(["list-clusters"])):
            return None
        out = self.run(["list-cluster", name])
        try:
            return find_cluster(parse_config(out), name)
        except O2cbConfigError as exc:
            self.module.fail_json(msg="cannot read the output of 'o2cb list-cluster %s': %s" % (name, exc), stdout=out)


def read_file(module, path):
    try:
        with open(path) as handle:
            return handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return ""
        module.fail_json(msg="cannot read %s: %s" % (path, exc))


def check_input(module):
    params = module.params
    problems = []
    name_problem = cluster_name_problem(params["cluster_name"])
    if name_problem:
        problems.append(name_problem)
    if params["state"] == "present":
        problems.extend(node_problems(params["nodes"]))
    if problems:
        module.fail_json(msg="nothing changed, fix the input first: " + "; ".join(problems), problems=problems)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            nodes=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                ip=dict(type="str", required=True),
                number=dict(type="int", required=True),
                port=dict(type="int", default=7777),
            )),
            heartbeat_mode=dict(type="str", choices=["local", "global"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            config_file=dict(type="path", default="/etc/ocfs2/cluster.conf"),
        ),
        required_if=[("state", "present", ["nodes"])],
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    check_input(module)
    params = module.params
    name = params["cluster_name"]
    config_file = params["config_file"]
    nodes = params["nodes"] or []

    tool = O2cb(module, config_file)
    current = tool.cluster(name)
    todo = plan(current, name, nodes, params["state"], params["heartbeat_mode"])
    changed = bool(todo["steps"])

    if params["state"] == "present" and nodes:
        hostname = socket.gethostname()
        if not any(node_is_local(node["name"], hostname) for node in nodes):
            module.warn("no node of cluster %s is this host (hostname %r): O2CB finds the local node by its host name, "
                        "so this host will not join the cluster" % (name, hostname))

    before = read_file(module, config_file)
    directory = os.path.dirname(config_file) or "."
    if changed and not os.path.isdir(directory) and directory != "/etc/ocfs2":
        module.fail_json(msg="the directory %s of config_file does not exist; o2cb does not create it" % directory)

    if module.check_mode:
        commands = [tool.prefix + step for step in todo["steps"]]
        try:
            after = render_config(replace_cluster(parse_config(before), name, todo["cluster"])) if changed else before
        except O2cbConfigError as exc:
            after = "(cannot predict: %s is not readable as O2CB configuration: %s)\n" % (config_file, exc)
        final = todo["cluster"]
    else:
        for step in todo["steps"]:
            tool.run(step, change=True)
        commands = tool.ran
        after = read_file(module, config_file) if changed else before
        final = tool.cluster(name) if changed else current
        if params["state"] == "present" and changed:
            wanted = sorted((n["name"], n["ip"], n["port"], n["number"]) for n in todo["cluster"]["nodes"])
            got = sorted((n["name"], n["ip"], n["port"], n["number"]) for n in (final or {}).get("nodes", []))
            if got != wanted:
                module.fail_json(msg="o2cb reported success but 'o2cb list-cluster %s' shows other nodes than wanted" % name,
                                 wanted=wanted, got=got, commands=commands)

    result = dict(changed=changed, cluster=cluster_summary(final), added=todo["added"], removed=todo["removed"],
                  replaced=todo["replaced"], commands=commands)
    if module._diff and changed:
        result["diff"] = dict(before=before, after=after, before_header=config_file, after_header=config_file)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
