# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the vms role writes a VM's image into its disk when the disk is a
DRBD resource: a DRBD device opens only where the resource is Primary (a
Secondary's refuses even a read: "Wrong medium type"), so the image is
read and written there. Plain functions of the inventory and of what the
hypervisors' /proc/drbd and the cluster's configuration say; the filter is
documented in the .yml file of its name beside this one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.replace import minors_of
from ansible_collections.havirt.cluster.plugins.module_utils.drbd import describe, is_connected


def cluster_drbd_resources(cib):
    """The DRBD resources (their names in the DRBD configuration) that a
    primitive of the cluster's configuration manages (``cibadmin --query
    --scope resources``: an ``ocf:linbit:drbd`` primitive's
    ``drbd_resource``); empty for an empty text (no cluster yet)."""
    if not (cib or "").strip():
        return []
    try:
        root = ET.fromstring(cib)
    except ET.ParseError as exc:
        raise AnsibleFilterError("vms_drbd_image_plan: the cluster's resources are not XML: %s" % exc) from exc
    names = []
    for primitive in root.iter("primitive"):
        if primitive.get("type") != "drbd":
            continue
        for pair in primitive.iter("nvpair"):
            if pair.get("name") == "drbd_resource" and pair.get("value"):
                names.append(pair.get("value"))
    return names


def _plan(vm, resource, hosts, minors, managed):
    """One VM's plan: where its disk is read and written, whether the
    resource is promoted there for it, or why it cannot be."""
    name, minor = vm["name"], int(resource["minor"])
    plan = {"vm": name, "resource": resource["name"], "device": "/dev/drbd%d" % minor, "host": "", "promote": False,
            "problem": ""}
    states = dict((host, minors[host].get(minor)) for host in hosts)
    seen = ", ".join("%s %s" % (host, describe(state)) for host, state in states.items())
    down = [host for host, state in states.items() if not state]
    if down:
        plan["problem"] = ("%s: its DRBD resource %s is not up on %s (%s): the drbd role brings it up (site.yml, tag "
                           "storage) before an image is written into it" % (name, resource["name"], ", ".join(down), seen))
        return plan
    primary = [host for host, state in states.items() if state["role"] == "Primary"]
    if len(primary) == 1:
        plan["host"] = primary[0]
        return plan
    if primary:
        plan["problem"] = ("%s: its DRBD resource %s is Primary on %s (%s): a live migration is under way or was cut "
                           "short; let it end (status.yml) and run again"
                           % (name, resource["name"], " and ".join(primary), seen))
        return plan
    if any(state["peer_role"] == "Primary" for state in states.values()):
        # Primary on a peer outside this run (site.yml --limit): the disk is
        # in use there, nothing for this run to read or write.
        return plan
    if resource["name"] in managed:
        plan["problem"] = ("%s: its DRBD resource %s is the cluster's and Primary nowhere (%s): only the cluster "
                           "promotes it, when it may start the VM (status.yml says why it does not: a failure to "
                           "clear, target-role Stopped); then run again" % (name, resource["name"], seen))
        return plan
    # Connected: the peer is Secondary for sure (one that is not connected
    # may be Primary on its own: a split brain in the making).
    ready = [host for host, state in states.items()
             if state["disk"] == "UpToDate" and is_connected(state) and state["peer_role"] == "Secondary"]
    if not ready:
        plan["problem"] = ("%s: its DRBD resource %s is connected and UpToDate on no hypervisor (%s): an image is "
                           "written only through an UpToDate copy whose peer is connected (a new resource's first "
                           "sync starts from the first hypervisor)" % (name, resource["name"], seen))
        return plan
    plan.update(host=ready[0], promote=True)
    return plan


def vms_drbd_image_plan(texts, vms, drbd_resources, hypervisors, cib=""):
    """For each VM of ``vms`` (the present entries of havirt_vms) made from
    an image whose disk is a DRBD resource: ``{vm, resource, device, host,
    promote, problem}``. ``texts``: each hypervisor's /proc/drbd (''
    where unread: no module); ``drbd_resources``: havirt_drbd_resources;
    ``hypervisors``: the run's, in the inventory's order; ``cib``: the
    cluster's resources (``cibadmin --query --scope resources``, '' before
    there is a cluster).

    ``host`` is where the resource is Primary (the VM runs there, or the
    cluster keeps it promoted while the VM is stopped); empty, without a
    problem, when that is a peer outside the run (site.yml --limit); a resource Primary
    nowhere that the cluster does not manage yet (a new VM: the pacemaker
    role makes its resources after the vms role) is promoted for the write
    on its first UpToDate hypervisor (``promote``) and demoted after. One
    the cluster manages is never promoted by hand: a ``problem``, as a
    resource down, Primary on both or UpToDate nowhere."""
    if not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("vms_drbd_image_plan: havirt_vms must be a list, got %r" % (vms,))
    resources = dict((r.get("name"), r) for r in drbd_resources or [] if isinstance(r, Mapping))
    hosts = [str(host) for host in hypervisors or []]
    minors = dict((host, minors_of((texts or {}).get(host, ""),
                                   "vms_drbd_image_plan: %s's /proc/drbd does not read as DRBD's" % host))
                  for host in hosts)
    managed = cluster_drbd_resources(cib)
    plans = []
    for vm in vms:
        if not (isinstance(vm, Mapping) and vm.get("image") and isinstance(vm.get("disk"), Mapping)
                and vm["disk"].get("drbd")):
            continue
        resource = resources.get(vm["disk"]["drbd"])
        if resource is None:
            raise AnsibleFilterError("vms_drbd_image_plan: %s's DRBD resource %s is not in havirt_drbd_resources"
                                     % (vm["name"], vm["disk"]["drbd"]))
        plans.append(_plan(vm, resource, hosts, minors, managed))
    return plans


class FilterModule:
    def filters(self):
        return {"vms_drbd_image_plan": vms_drbd_image_plan}
