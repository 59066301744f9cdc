# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with the cluster's VMs (havirt_vms) before any host is
touched: names, sizes, placement, disks and the storage each disk needs,
one sentence per problem naming the VM. Documented in vms_problems.yml
beside this file."""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.inventory_rules import as_int as _int, is_iscsi_name, is_iqn
from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import (
    FORMATS, ImageError, parse_checksum, parse_size)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
MODES = ("iscsi_ocfs2", "drbd")
DISK_KINDS = ("lun", "path", "drbd")
FIRMWARES = ("bios", "uefi")


def _vm_problems(vm, label, hypervisors, group):
    problems = []
    if not isinstance(vm.get("name"), str) or not NAME.match(vm["name"]):
        problems.append("%s: the name must be 1 to 63 letters, digits and '-', not starting with '-'" % label)
    if vm.get("preferred") not in hypervisors:
        problems.append("%s: preferred hypervisor %r is not in group '%s' (%s): a VM never runs on the storage node"
                        % (label, vm.get("preferred"), group, ", ".join(hypervisors) or "empty"))
    for key in ("avoid", "tags"):
        names = vm.get(key)
        if key in vm and not (isinstance(names, (list, tuple))
                              and all(isinstance(item, str) and NAME.match(item) for item in names)):
            problems.append("%s: %s must be a list of names (VMs%s), got %r"
                            % (label, key, " or tags" if key == "avoid" else "' tags", vm[key]))
    if "avoid_strict" in vm and not isinstance(vm["avoid_strict"], bool):
        problems.append("%s: avoid_strict must be true or false, got %r" % (label, vm["avoid_strict"]))
    if "priority" in vm and (isinstance(vm["priority"], bool) or _int(vm["priority"]) is None):
        problems.append("%s: priority must be a whole number (higher starts first), got %r" % (label, vm["priority"]))
    for key, required in (("memory_mb", True), ("vcpus", False)):
        if key not in vm and not required:
            continue
        value = _int(vm.get(key))
        if value is None or value <= 0:
            problems.append("%s: %s must be a number above 0 (got %r)" % (label, key, vm.get(key)))
    return problems


def _firmware_problems(firmware, label, domain_type):
    """firmware (the VM's own, else vms_firmware): one of FIRMWARES, and UEFI
    only where OVMF runs it (KVM/QEMU: libxl boots HVM guests with its own)."""
    if firmware not in FIRMWARES:
        return ["%s: firmware must be bios or uefi, got %r" % (label, firmware)]
    if firmware == "uefi" and domain_type == "xen":
        return ["%s: firmware uefi is for KVM/QEMU hypervisors; on Xen the role boots HVM guests with SeaBIOS "
                "(firmware: bios, or vms_firmware: bios)" % label]
    return []


def _lun_backing(luns, lun):
    """The backing store (path) of LUN ``lun`` in ``luns`` (iscsi_target_luns,
    LUN N the Nth), None when there is no such LUN."""
    lun = _int(lun)
    return (luns[lun - 1] or {}).get("path") if lun and 0 < lun <= len(luns) else None


def _state_problems(vm, label, kind, value, luns):
    """state present or absent; purge_disk only on a VM marked absent, and
    only for the disks the role empties (an image file, a LUN's file)."""
    state = vm.get("state", "present")
    if state not in ("present", "absent"):
        return ["%s: state must be present or absent, got %r" % (label, state)]
    purge = vm.get("purge_disk", False)
    if not isinstance(purge, bool):
        return ["%s: purge_disk must be true or false, got %r" % (label, purge)]
    if not purge:
        return []
    if state != "absent":
        return ["%s: purge_disk deletes the disk of a VM marked state: absent; %s is not: mark it absent too "
                "(nothing was deleted)" % (label, label)]
    if kind == "drbd":
        return ["%s: purge_disk does not take down a DRBD resource: remove %s from havirt_drbd_resources, then on "
                "both hypervisors drbdadm down %s; drbdadm wipe-md %s; rm /etc/drbd.d/havirt-%s.res"
                % (label, value, value, value, value)]
    if kind == "path" and str(value).startswith("/dev/"):
        return ["%s: purge_disk does not erase a block device (%s): do it by hand once nothing uses it "
                "(blkdiscard -z %s)" % (label, value, value)]
    if kind == "lun":
        backing = _lun_backing(luns, value)
        if isinstance(backing, str) and backing.startswith("/dev/"):
            return ["%s: purge_disk does not erase a block device (LUN %d is %s on the storage node): do it by "
                    "hand there once nothing uses it (blkdiscard -z %s)" % (label, _int(value), backing, backing)]
    return []


def vms_purge_plan(vms, luns=()):
    """What purge_disk deletes, for the VMs marked absent with purge_disk
    (vms_problems has refused every other case): {"files": image files on
    the store, "luns": [{"name", "lun", "path"}] the LUN backing files to
    empty in place, "seeds": the VMs whose cloud-init seed goes}."""
    plan = {"files": [], "luns": [], "seeds": []}
    luns = list(luns or [])
    for vm in vms or []:
        if not (isinstance(vm, dict) and vm.get("state") == "absent" and vm.get("purge_disk") is True):
            continue
        disk = vm.get("disk") or {}
        if "path" in disk and not str(disk["path"]).startswith("/dev/"):
            plan["files"].append(disk["path"])
        elif "lun" in disk:
            backing = _lun_backing(luns, disk["lun"])
            if backing is None:
                raise AnsibleFilterError("vms_purge_plan: %s: LUN %r is not in iscsi_target_luns" % (vm["name"], disk["lun"]))
            plan["luns"].append({"name": vm["name"], "lun": _int(disk["lun"]), "path": backing})
        plan["seeds"].append(vm["name"])
    return plan


def _disk(vm, label, problems):
    disk = vm.get("disk")
    kinds = [kind for kind in DISK_KINDS if isinstance(disk, dict) and kind in disk]
    if len(kinds) != 1:
        problems.append("%s: disk must name exactly one of lun (an iSCSI LUN of the storage node), path (a file or "
                        "device every hypervisor sees) or drbd (a DRBD resource), got %r" % (label, disk))
        return None, None
    return kinds[0], disk[kinds[0]]


def _path_problems(disk, label):
    """A path disk: absolute; an image file (format, size) or a block device (/dev/..., neither)."""
    path = disk["path"]
    if not isinstance(path, str) or not path.startswith("/") or os.path.normpath(path) != path.rstrip("/") \
            or path.endswith("/"):
        return ["%s: disk path %r must be an absolute, normalized path to a file (or /dev/... device)" % (label, path)]
    problems = []
    if path.startswith("/dev/"):
        if [key for key in ("format", "size") if key in disk]:
            problems.append("%s: %s is a block device: format and size are for image files (a device's size is "
                            "its own)" % (label, path))
        return problems
    if disk.get("format", "raw") not in FORMATS:
        problems.append("%s: disk format %r: images are %s" % (label, disk.get("format"), " or ".join(FORMATS)))
    if "size" in disk:
        try:
            parse_size(disk["size"])
        except ImageError as exc:
            problems.append("%s: disk %s" % (label, exc))
    return problems


def _image_problems(vm, kind, label):
    """image: {src: a file on the controller} or {url: ..., checksum: ...}, on a disk the role writes it to."""
    image = vm["image"]
    sources = [key for key in ("src", "url") if isinstance(image, dict) and key in image]
    if len(sources) != 1:
        return ["%s: image must name exactly one of src (an image file on the controller) or url (with its checksum), "
                "got %r" % (label, image)]
    problems = []
    value = image[sources[0]]
    if sources == ["src"] and not (isinstance(value, str) and os.path.isabs(value) and os.path.isfile(value)):
        problems.append("%s: image src %r is not an image file on the controller (an absolute path)" % (label, value))
    if sources == ["url"]:
        if not (isinstance(value, str) and re.match(r"^(https?|ftp)://[^/\s]+/\S+$", value)):
            problems.append("%s: image url %r is not an http(s) or ftp URL of a file" % (label, value))
        if not image.get("checksum"):
            problems.append("%s: an image fetched from a URL needs its checksum (sha256:..., from the image's "
                            "SHA256SUMS): a damaged or replaced download never becomes a VM's disk" % label)
    try:
        parse_checksum(image.get("checksum") or "")
    except ImageError as exc:
        problems.append("%s: image %s" % (label, exc))
    if kind == "path" and str(vm["disk"]["path"]).startswith("/dev/"):
        problems.append("%s: an image is written into a LUN ({lun: N}), a DRBD resource ({drbd: R}) or an image file "
                        "({path: ...} on the store) only; for another block device, write it by hand on the node that "
                        "holds it (qemu-img convert -n -O raw IMAGE DEVICE, the device blank) and leave image out"
                        % label)
    return problems


def _avoid_problems(vms):
    """avoid names a VM or a tag; a tag is not also a VM's name."""
    names = set(vm.get("name") for vm in vms)
    tags = set(tag for vm in vms if isinstance(vm.get("tags"), (list, tuple)) for tag in vm["tags"])
    problems = ["%s: the tag %s is also a VM's name: avoid could not tell them apart" % (vm.get("name"), tag)
                for vm in vms if isinstance(vm.get("tags"), (list, tuple)) for tag in vm["tags"] if tag in names]
    for vm in vms:
        if not isinstance(vm.get("avoid"), (list, tuple)):
            continue
        unknown = [item for item in vm["avoid"] if isinstance(item, str) and item not in names | tags]
        if unknown:
            problems.append("%s: avoid names %s, neither a VM of havirt_vms nor a tag of one"
                            % (vm.get("name"), ", ".join(unknown)))
        if vm.get("name") in vm["avoid"]:
            problems.append("%s: a VM cannot avoid itself" % vm.get("name"))
    return problems


def _shared(owners, what, consequence):
    return ["%s would share %s: %s" % (" and ".join(names), what % (value,), consequence)
            for value, names in owners.items() if len(names) > 1]


def vms_problems(vms, hypervisors, group="hypervisors", storage_modes=("iscsi_ocfs2",), drbd_resources=(),
                 cluster_managed=True, lun_count=0, ocfs2_lun=0, luns=(), domain_type="kvm", firmware="bios"):
    """Every problem of ``vms`` (havirt_vms), one sentence each; empty when none."""
    if not isinstance(vms, (list, tuple)):
        raise AnsibleFilterError("vms_problems: havirt_vms must be a list of VMs, got %r" % (vms,))
    hypervisors = list(hypervisors or [])
    modes = list(storage_modes or [])
    resources = [resource.get("name") for resource in drbd_resources or [] if isinstance(resource, dict)]
    lun_count, ocfs2_lun = _int(lun_count) or 0, _int(ocfs2_lun) or 0
    lun_entries = [entry if isinstance(entry, dict) else {} for entry in luns or []]
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
        problems += _firmware_problems(vm.get("firmware", firmware), label, domain_type)
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
            problems += _path_problems(vm["disk"], label)
        elif kind == "drbd":
            drbds.setdefault(value, []).append(label)
            if value not in resources:
                problems.append("%s: DRBD resource %r is not in havirt_drbd_resources (%s)"
                                % (label, value, ", ".join(map(str, resources)) or "none"))
        if "image" in vm and kind:
            problems += _image_problems(vm, kind, label)
        problems += _state_problems(vm, label, kind, value, lun_entries)
        if kind in ("lun", "drbd") and [key for key in ("format", "size") if key in vm["disk"]]:
            problems.append("%s: format and size are for image files ({path: ...}); a LUN's size is its entry's in "
                            "iscsi_target_luns, a DRBD resource's its backing device's" % label)
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
    problems += _avoid_problems([vm for vm in vms if isinstance(vm, dict)])
    problems += _shared(luns, "LUN %s", "a disk opened by two guests is destroyed")
    problems += _shared(paths, "the disk %s", "a disk opened by two guests is destroyed")
    problems += _shared(drbds, "the DRBD resource %s", "a VM moves alone, and with it its resource's primary")
    return problems


def vms_iscsi_problems(domain_type, initiator_name, target_iqn, portal_address, admitted=None):
    """What QEMU needs to open the VMs' iSCSI disks itself, one sentence per problem; empty when none."""
    problems = []
    if domain_type == "xen":
        problems.append("the domain type is xen, and Xen's libxl has no iSCSI client: give Xen VMs a path on the OCFS2 "
                        "store or the LUN's block device")
    if not is_iscsi_name(initiator_name):
        problems.append("havirt_vms_iscsi_initiator_name %r is not an iSCSI name (iqn.YYYY-MM.reversed.domain:name): "
                        "QEMU logs in with it" % (initiator_name,))
    elif admitted is not None and initiator_name not in admitted:
        problems.append("the target's ACL (iscsi_target_extra_initiators: %s) does not admit QEMU's initiator name %s"
                        % (", ".join(map(str, admitted)) or "none", initiator_name))
    if not is_iqn(target_iqn):
        problems.append("the target's IQN %r is not an IQN (iqn.YYYY-MM.reversed.domain:name)" % (target_iqn,))
    if not isinstance(portal_address, str) or not portal_address.strip():
        problems.append("the target's address (vms_iscsi_portal_address) is empty")
    return problems


def vms_network_problems(vms, bridge, bridge_interface="", files=()):
    """The guest bridge, its NIC, the VMs' MACs and the files to copy, one sentence per problem; empty when none."""
    problems = []
    if not isinstance(bridge, str) or not IFNAME.match(bridge):
        problems.append("the guest bridge %r must be an interface name (letters, digits, '_', '.', '-'; 15 characters "
                        "at most)" % (bridge,))
    if bridge_interface and not (isinstance(bridge_interface, str)
                                 and (IFNAME.match(bridge_interface) or MAC.match(bridge_interface))):
        problems.append("the bridge's NIC %r must be an interface name (15 characters at most) or its MAC address "
                        "(lower case)" % (bridge_interface,))
    elif bridge_interface and bridge_interface == bridge:
        problems.append("the bridge's NIC cannot be the bridge %s itself" % bridge)
    owners = {}
    for vm in vms or []:
        if not isinstance(vm, dict) or "mac" not in vm:
            continue
        label, mac = vm.get("name") or "a VM", vm["mac"]
        if not isinstance(mac, str) or not MAC.match(mac):
            problems.append("%s: MAC %r must be six lower-case hex pairs (52:54:00:12:34:56)" % (label, mac))
        elif mac in owners:
            problems.append("%s: MAC %s is already %s's: two guests with one MAC break both" % (label, mac, owners[mac]))
        owners.setdefault(mac, label)
    for item in files or []:
        source = item.get("src") if isinstance(item, dict) else item
        if not isinstance(source, str) or not os.path.isfile(source):
            problems.append("vms_files: %s does not exist on the controller" % (source,))
    return problems


class FilterModule:
    """havirt.cluster filters for the vms role."""

    def filters(self):
        return {"vms_problems": vms_problems, "vms_iscsi_problems": vms_iscsi_problems, "vms_purge_plan": vms_purge_plan,
                "vms_network_problems": vms_network_problems}
