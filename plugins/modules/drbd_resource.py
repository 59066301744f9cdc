#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: drbd_resource
short_description: Bring a DRBD resource up without ever wiping data, and start its first sync
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - Works on one resource of the DRBD configuration (C(/etc/drbd.conf) and C(/etc/drbd.d/)), which must
    already name this host. Written for the kernel's DRBD 8.4 (Debian 12) driven by drbd-utils 9.
  - Metadata is created (C(drbdadm create-md)) only when the backing device holds none. Before that the
    device is read the way M(havirt.cluster.blank_device) reads it, and a device that holds anything (a
    file system, a partition table and what its partitions hold, any other signature C(wipefs) or
    C(blkid) finds, or anything but zeros in its first or last MiB) is refused, naming what is there,
    unless O(initialize_nonempty=true). A device that already holds DRBD metadata is never re-initialized.
  - The resource is then brought up and adjusted to its configuration (C(drbdadm adjust)), only when
    C(drbdadm -d adjust) says something differs.
  - With O(initial_sync_source=true), and only for a brand-new resource (connected, both disks
    C(Inconsistent), this node's metadata just created), this node is forced primary for a moment to
    start the first full sync towards the peer, then made secondary again. On any other resource the
    option does nothing and RV(initial_sync) says why.
  - >-
    With O(grow=true), a resource whose backing device grew (on this node: an C(lvextend), a bigger disk) is grown
    online (C(drbdadm resize)) to what the smaller of the two backing devices holds, its internal metadata moved to
    the new end, and the new part resynced. DRBD 8.4 does this only while the resource is Connected, UpToDate on
    both nodes, with one node Primary (its VM running); otherwise RV(grow) says what is missing and nothing is
    changed. Run it on one node only.
  - Promotion and demotion are left to the cluster manager, which decides which node is
    primary.
notes:
  - Run it on both nodes of the resource; the node with O(initial_sync_source=true) after both are up.
  - The peers' shared secret is replaced by C(********) in everything the module returns and in its
    failure messages (C(drbdadm) prints it in the commands it runs and in their errors).
  - Check mode reads everything and reports what would run (C(drbdadm -d adjust)); it creates no metadata
    and changes nothing.
requirements:
  - drbd-utils, and a kernel with the drbd module loaded; util-linux (C(wipefs), C(blkid), C(partx)).
attributes:
  check_mode:
    description: Reads the state and returns what would be done, without doing it.
    support: full
  diff_mode:
    description: Returns the resource's state before and after (predicted in check mode).
    support: full
options:
  name:
    description: The resource's name in the DRBD configuration.
    type: str
    required: true
  state:
    description:
      - V(up) creates missing metadata (on an empty device), brings the resource up and adjusts it.
      - V(down) takes it down (C(drbdadm down)); its data and metadata stay.
    type: str
    choices: [up, down]
    default: up
  initialize_nonempty:
    description:
      - Create metadata on a backing device that holds data. Internal metadata is written at the end of
        the device and the first sync copies the sync source over the peer, so what was there is lost.
    type: bool
    default: false
  initial_sync_source:
    description:
      - Start the first full sync from this node when the resource is brand new on both nodes.
    type: bool
    default: false
  config_file:
    description:
      - Read the resource from this DRBD configuration file instead of C(/etc/drbd.conf) (C(drbdadm
        --config-file)). With check mode this checks a configuration before it is installed, including
        whether its backing device may take new metadata.
    type: path
  grow:
    description:
      - Grow the resource when its backing device on this node holds more than the DRBD device uses (see above).
    type: bool
    default: false
  wait_connected:
    description:
      - Seconds to wait for the peer to connect after the resource is up; the module fails, naming the
        connection state, when it does not. V(0) does not wait.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Bring the VM disk's resource up on both hypervisors
  havirt.cluster.drbd_resource:
    name: passata
    wait_connected: 60

- name: Start the first sync of a new resource from the first hypervisor
  havirt.cluster.drbd_resource:
    name: passata
    initial_sync_source: true
    wait_connected: 60
  when: inventory_hostname == groups['hypervisors'][0]

- name: Take a resource down for maintenance of its backing disk
  havirt.cluster.drbd_resource:
    name: scratch
    state: down
"""

RETURN = r"""
device:
  description: The DRBD device of the resource on this host.
  returned: always
  type: str
  sample: /dev/drbd1
backing_device:
  description: The lower-level device DRBD stores the data on.
  returned: always
  type: str
  sample: /dev/vdb
created_metadata:
  description: Whether metadata was created (would be, in check mode).
  returned: always
  type: bool
  sample: false
adjust_commands:
  description: The commands C(drbdadm adjust) ran (would run, in check mode) to match the configuration.
  returned: always
  type: list
  elements: str
  sample: ["drbdsetup-84 new-resource passata",
           "drbdsetup-84 connect passata ipv4:10.210.3.11:7789 ipv4:10.210.3.12:7789 --shared-secret=******** --protocol=C"]
initial_sync:
  description: Whether this node started the first full sync, or why not.
  returned: always
  type: str
  sample: not needed (the peer's disk is UpToDate)
status:
  description: The resource's state as C(/proc/drbd) shows it after the change; empty when down.
  returned: always
  type: dict
  sample: {cstate: Connected, role: Secondary, peer_role: Primary, disk: UpToDate, peer_disk: UpToDate,
           protocol: C, out_of_sync_kib: 0}
commands:
  description: The commands that changed something (none in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/usr/sbin/drbdadm create-md --force passata", "/usr/sbin/drbdadm adjust passata"]
grow:
  description:
    - >-
      With O(grow=true): V(none) (the device uses its backing device), V(grown) (would be, in check mode), V(wait)
      (the backing device grew but the resource cannot grow now) or V(not grown) (C(drbdadm resize) kept the size:
      the peer's backing device has not grown); RV(grow_reason) says why, with the sizes.
  returned: always
  type: str
  sample: grown
grow_reason:
  description: Why, in words, with the sizes in bytes.
  returned: always
  type: str
device_size:
  description: The DRBD device's size in bytes after the run (0 when down).
  returned: always
  type: int
summary:
  description: The state in one line.
  returned: always
  type: str
  sample: Connected Secondary/Primary UpToDate/UpToDate
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.blockdev import BlockdevError, probe, size_of
from ansible_collections.havirt.cluster.plugins.module_utils.drbd import (
    SECTOR, describe, grow_plan, is_connected, needs_initial_sync, parse_adjust_dry_run, redact_secrets)
from ansible_collections.havirt.cluster.plugins.module_utils.drbd_tool import Drbd, DrbdFailure

PROC_DRBD = "/proc/drbd"
SYS_BLOCK = "/sys/block"


def ensure_metadata(module, tool, backing):
    """Create metadata when there is none and the device may take it.
    Returns True when it was created (would be, in check mode)."""
    if tool.gi() is not None:
        return False
    if not os.path.exists(backing):
        raise DrbdFailure("the backing device %s of %s does not exist on this host: nothing was changed"
                          % (backing, tool.name))
    try:
        holds = probe(module, backing)["holds"]
    except BlockdevError as exc:
        raise DrbdFailure("cannot check the backing device %s of %s: %s" % (backing, tool.name, exc))
    refusal = "%s holds data (%s)" % (backing, "; ".join(holds)) if holds else ""
    if refusal and not module.params["initialize_nonempty"]:
        raise DrbdFailure(
            "%s: no DRBD metadata was created for %s and nothing was changed. DRBD would keep its metadata at the end "
            "of the device and the first sync would overwrite it with the peer's data. If what is on it may be "
            "destroyed, set initialize_nonempty (drbd_initialize_nonempty in the role) for one run."
            % (refusal, tool.name))
    if refusal:
        module.warn("initializing %s although %s" % (tool.name, refusal))
    if not module.check_mode:
        tool.run(["create-md", "--force", tool.name], change=True)
    return True


def device_size(minor):
    """The DRBD device's size in bytes, from sysfs (0 when it is down):
    read without opening the device, which a Secondary refuses."""
    try:
        with open(os.path.join(SYS_BLOCK, "drbd%d" % minor, "size")) as handle:
            return int(handle.read().strip()) * SECTOR
    except (IOError, OSError, ValueError):
        return 0


def grow(module, tool, minor, backing, status):
    """drbdadm resize when the backing device grew and DRBD 8.4 allows it.
    Returns (outcome, reason, changed)."""
    before = device_size(minor)
    try:
        backing_bytes = size_of(backing)
    except OSError as exc:
        raise DrbdFailure("cannot read the size of %s, the backing device of %s: %s" % (backing, tool.name, exc))
    action, reason = grow_plan(status, before, backing_bytes)
    if action == "none":
        return "none", reason, False
    if action == "wait":
        module.warn("%s not grown: %s" % (tool.name, reason))
        return "wait", reason, False
    if module.check_mode:
        return "grown", "would run drbdadm resize: %s" % reason, True
    tool.run(["resize", tool.name], change=True)
    after = device_size(minor)
    if after <= before:
        reason = ("drbdadm resize kept %s at %s bytes although this node's backing device has %s: grow the backing "
                  "device on the peer as well, then run again" % (tool.name, before, backing_bytes))
        module.warn(reason)
        return "not grown", reason, False
    return "grown", "from %s to %s bytes (backing device %s bytes); the new part resyncs" % (before, after, backing_bytes), True


def wait_for_connection(tool, minor, seconds):
    deadline = time.time() + seconds
    status = tool.status(minor)
    while not is_connected(status) and time.time() < deadline:
        time.sleep(1)
        status = tool.status(minor)
    if not is_connected(status):
        raise DrbdFailure(
            "%s is up but its peer did not connect within %ss (connection state %s): is the resource up on the peer, "
            "do both configurations agree, and is the port open between the cluster addresses?"
            % (tool.name, seconds, status.get("cstate", "down")))
    return status


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="up", choices=["up", "down"]),
            initialize_nonempty=dict(type="bool", default=False),
            initial_sync_source=dict(type="bool", default=False),
            wait_connected=dict(type="int", default=0),
            grow=dict(type="bool", default=False),
            config_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    params = module.params
    result = dict(changed=False, created_metadata=False, adjust_commands=[], initial_sync="not asked",
                  grow="not asked", grow_reason="", device_size=0)
    try:
        tool = Drbd(module, params["name"], PROC_DRBD)
    except DrbdFailure as exc:
        module.fail_json(**redact_secrets(dict(result, msg=str(exc))))
    try:
        backing = tool.config_value("ll-dev")
        device = tool.config_value("dev")
        minor = int(tool.config_value("minor"))
        result.update(device=device, backing_device=backing)
        before = tool.status(minor)

        if params["state"] == "down":
            if before and not module.check_mode:
                tool.run(["down", tool.name], change=True)
            result["changed"] = bool(before)
            after = {} if not module.check_mode else before
        else:
            if not before:
                result["created_metadata"] = ensure_metadata(module, tool, backing)
            if result["created_metadata"] and module.check_mode:
                planned = ["drbdadm create-md --force %s" % tool.name, "drbdadm adjust %s" % tool.name]
            else:
                planned = parse_adjust_dry_run(tool.run(["-d", "adjust", tool.name])[1])
            if planned and not module.check_mode:
                tool.run(["adjust", tool.name], change=True)
            result["adjust_commands"] = planned
            result["changed"] = result["created_metadata"] or bool(planned)
            after = tool.status(minor) if not module.check_mode else before

            if params["wait_connected"] > 0 and not module.check_mode:
                after = wait_for_connection(tool, minor, params["wait_connected"])
            if params["initial_sync_source"]:
                gi = tool.gi() if after else None
                if needs_initial_sync(after, gi):
                    if not module.check_mode:
                        tool.run(["primary", "--force", tool.name], change=True)
                        tool.run(["secondary", tool.name], change=True)
                        after = tool.status(minor)
                    result["initial_sync"] = "started from this node"
                    result["changed"] = True
                elif module.check_mode and result["created_metadata"]:
                    result["initial_sync"] = "would start once both nodes are up with new metadata"
                elif not is_connected(after):
                    result["initial_sync"] = "not started: the peer is not connected (%s)" % describe(after)
                else:
                    result["initial_sync"] = "not needed (%s)" % describe(after)
            if params["grow"] and after:
                result["grow"], result["grow_reason"], grew = grow(module, tool, minor, backing, after)
                result["changed"] = result["changed"] or grew
                if grew and not module.check_mode:
                    after = tool.status(minor)
            elif params["grow"]:
                result.update(grow="wait", grow_reason="the resource is down (check mode: not brought up)")
        result["device_size"] = device_size(minor)
    except DrbdFailure as exc:
        # drbdadm names the drbdsetup command that failed, shared secret included.
        module.fail_json(**redact_secrets(dict(result, msg=str(exc), commands=tool.ran)))

    result.update(status=after, summary=describe(after), commands=tool.ran)
    if module._diff:
        result["diff"] = dict(before="%s: %s\n" % (tool.name, describe(before)),
                              after="%s: %s\n" % (tool.name, describe(after)))
    module.exit_json(**redact_secrets(result))


if __name__ == "__main__":
    main()
