# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions for the domain_disk_size module: which disk of a
running domain a target names (read from libvirt's domain XML), and
whether to grow it live to what its storage now holds.

No libvirt here: the module feeds these with what libvirt answers, the
unit tests with domain XML captured in the labs.

What QEMU does, and these functions follow: ``block_resize`` (libvirt's
virDomainBlockResize) grows an image file itself (raw or qcow2); on a
block device it only takes a size the device already has ("Cannot grow
device files"), and then tells the guest, whose virtio disk grows at
once. It is refused for a size smaller than the guest's disk."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import xml.etree.ElementTree as ET

SECTOR = 512


class DiskError(Exception):
    """The domain has no such disk, or the grow asked for is refused; the
    message says why and what to do."""


def disk_of(domain_xml, target):
    """{type, source, format} of the domain's disk whose ``<target dev>``
    is ``target``: type is libvirt's disk type (``file``, ``block``,
    ``network``), source the file, device or network name it opens.
    Raises DiskError when the domain has no disk of that name."""
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise DiskError("libvirt's description of the domain is not XML: %s" % exc)
    names = []
    for disk in root.findall("./devices/disk"):
        dev = disk.find("target")
        if dev is None:
            continue
        names.append(dev.get("dev"))
        if dev.get("dev") != target:
            continue
        source = disk.find("source")
        driver = disk.find("driver")
        found = ""
        if source is not None:
            found = source.get("file") or source.get("dev") or source.get("name") or ""
        return dict(type=disk.get("type", "file"), device=disk.get("device", "disk"), source=found,
                    format=driver.get("type", "raw") if driver is not None else "raw")
    raise DiskError("the domain has no disk %s (its disks: %s)" % (target, ", ".join(names) or "none"))


def grow_plan(disk, capacity, physical, wanted=None):
    """What to do with a running domain's disk: (action, size, reason).

    ``disk`` is disk_of()'s answer; ``capacity`` what the guest sees now,
    ``physical`` what libvirt reports under it (a block device's size, an
    image file's length); ``wanted`` the size asked for, in bytes, or None
    for a block device: then its own size.

    action is ``none`` (the guest sees the size already), ``grow`` (to
    ``size`` bytes, a whole number of sectors). A smaller size, a size a
    block device does not have, a CD-ROM or a network disk without a size
    raise DiskError."""
    if disk["device"] != "disk":
        raise DiskError("%s is a %s, not a disk: it is never resized" % (disk["source"], disk["device"]))
    if wanted is None:
        if disk["type"] != "block":
            raise DiskError("%s is a %s disk: give the size it must have (only a block device's size is its own)"
                            % (disk["source"] or "the disk", disk["type"]))
        wanted = physical
    wanted = wanted // SECTOR * SECTOR
    if wanted < capacity:
        raise DiskError("%s is %d bytes in the guest, more than the %d asked for: a VM's disk is never shrunk. "
                        "Nothing was changed." % (disk["source"], capacity, wanted))
    if wanted == capacity:
        return "none", capacity, "the guest sees %d bytes already" % capacity
    if disk["type"] == "block" and wanted > physical:
        raise DiskError("%s has %d bytes, fewer than the %d asked for: grow the device first (its DRBD resource, "
                        "logical volume or LUN). Nothing was changed." % (disk["source"], physical, wanted))
    return "grow", wanted, "from %d to %d bytes" % (capacity, wanted)
