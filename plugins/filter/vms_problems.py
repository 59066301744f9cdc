# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the cluster's VMs (havirt_vms) before any host is
touched: names, sizes, placement, disks and the storage each disk needs,
one sentence per problem naming the VM. Documented in vms_problems.yml
beside this file."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
MODES = ("iscsi_ocfs2", "drbd")
DISK_KINDS = ("lun", "path", "drbd")


def _int(value):
    """An int from an int or a text of digits; None otherwise (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _vm_problems(vm, label, hypervisors, group):
    problems = []
    if not isinstance(vm.get("name"), str) or not NAME.match(vm["name"]):
        problems.append("%s: the name must be 1 to 63 letters, digits and '-', not starting with '-'" % label)
    if vm.get("preferred") not in hypervisors:
        problems.append("%s: preferred hypervisor %r is not in group '%s' (%s): a VM never runs on the storage node"
                        % (label, vm.get("preferred"), group, ", ".join(hypervisors) or "empty"))
    for key, required in (("memory_mb", True), ("vcpus", False)):
        if key not in vm and not required:
            continue
        value = _int(vm.get(key))
        if value is None or value <= 0:
            problems.append("%s: %s must be a number above 0 (got %r)" % (label, key, vm.get(key)))
    return problems


def _disk(vm, label, problems):
    disk = vm.get("disk")
    kinds = [kind for kind in DISK_KINDS if isinstance(disk, dict) and kind in disk]
    if len(kinds) != 1:
        problems.append("%s: disk must name exactly one of lun (an iSCSI LUN of the storage node), path (a file or "
                        "device every hypervisor sees) or drbd (a DRBD resource), got %r" % (label, disk))
        return None, None
    return kinds[0], disk[kinds[0]]


def _shared(owners, what, consequence):
    return ["%s would share %s: %s" % (" and ".join(names), what % (value,), consequence)
            for value, names in owners.items() if len(names) > 1]


def vms_problems(vms, hypervisors, group="hypervisors", storage_modes=("iscsi_ocfs2",), drbd_resources=(),
                 cluster_managed=True, lun_count=0, ocfs2_lun=0):
    """Every problem of ``vms`` (havirt_vms), one sentence each; empty when none."""
    if not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("vms_problems: havirt_vms must be a list of VMs, got %r" % (vms,))
    hypervisors = list(hypervisors or [])
    modes = list(storage_modes or [])
    resources = [resource.get("name") for resource in drbd_resources or [] if isinstance(resource, dict)]
    lun_count, ocfs2_lun = _int(lun_count) or 0, _int(ocfs2_lun) or 0
    problems = []
    if not modes or [mode for mode in modes if mode not in MODES]:
        problems.append("havirt_storage_modes must list iscsi_ocfs2, drbd or both (got %r)" % (storage_modes,))
    names, luns, paths, drbds = {}, {}, {}, {}
    for index, vm in enumerate(vms):
        if not isinstance(vm, dict):
            problems.append("havirt_vms[%d]: a VM is a dict (name, memory_mb, preferred, disk...), got %r" % (index, vm))
            continue
        label = str(vm.get("name") or "havirt_vms[%d]" % index)
        names.setdefault(vm.get("name"), []).append(label)
        problems += _vm_problems(vm, label, hypervisors, group)
        kind, value = _disk(vm, label, problems)
        if kind == "lun":
            lun = _int(value)
            if lun is None or not 1 <= lun <= lun_count:
                problems.append("%s: LUN %r is not one the storage node exports (LUNs 1 to %d in iscsi_target_luns)"
                                % (label, value, lun_count))
            elif lun == ocfs2_lun:
                problems.append("%s: LUN %d holds the OCFS2 store (havirt_ocfs2_lun): a disk opened by a guest and "
                                "by OCFS2 is destroyed" % (label, lun))
            if lun is not None:
                luns.setdefault(lun, []).append(label)
        elif kind == "path":
            paths.setdefault(value, []).append(label)
        elif kind == "drbd":
            drbds.setdefault(value, []).append(label)
            if value not in resources:
                problems.append("%s: DRBD resource %r is not in havirt_drbd_resources (%s)"
                                % (label, value, ", ".join(map(str, resources)) or "none"))
        if kind in ("lun", "path") and "iscsi_ocfs2" not in modes:
            problems.append("%s: its disk is on the storage node ({%s}) but havirt_storage_modes (%s) lacks "
                            "iscsi_ocfs2" % (label, kind, ", ".join(modes)))
        if kind == "drbd" and "drbd" not in modes:
            problems.append("%s: its disk is a DRBD resource but havirt_storage_modes (%s) lacks drbd"
                            % (label, ", ".join(modes)))
        if kind == "drbd" and not cluster_managed:
            problems.append("%s: a VM on DRBD needs the cluster manager (havirt_vms_cluster_managed: true), which "
                            "promotes its resource where it runs" % label)
    problems += ["two VMs are named %s: each needs its own name" % name for name, owners in names.items()
                 if len(owners) > 1]
    problems += _shared(luns, "LUN %s", "a disk opened by two guests is destroyed")
    problems += _shared(paths, "the disk %s", "a disk opened by two guests is destroyed")
    problems += _shared(drbds, "the DRBD resource %s", "a VM moves alone, and with it its resource's primary")
    return problems


class FilterModule:
    """havirt.cluster filters for the vms role."""

    def filters(self):
        return {"vms_problems": vms_problems}
