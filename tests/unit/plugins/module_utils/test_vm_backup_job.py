# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_backup_job.take_backup's checkpoints, on the edges the labs do not
reach on purpose: libvirt stands in as a namespace (take_backup is given
its libvirt module) whose domain keeps its checkpoints' metadata apart from
the bitmaps in its qcow2 disk, as libvirt and QEMU do; libvirt's copy is a
real qcow2 file and every qemu-img command runs for real, but ``qemu-img
info`` of the live disk, which answers with the fake's bitmaps.

The labs run the real thing: molecule/default/tests/test_backup.py (a
qcow2 guest on a container lab hypervisor) and molecule/vmlab's
test_backup_vmlab.py (backup.yml on the OCFS2 store)."""

from __future__ import annotations

import json
import os
import subprocess
import types
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup_job as job

DISK = "/cluster/vms/masterauth.qcow2"
DOMAIN = f"""<domain type='qemu'><name>masterauth</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{DISK}'/>
    <target dev='vda' bus='virtio'/></disk></devices></domain>"""


class LibvirtError(Exception):
    pass


LIBVIRT = types.SimpleNamespace(
    libvirtError=LibvirtError, VIR_DOMAIN_JOB_NONE=0, VIR_DOMAIN_JOB_COMPLETED=3, VIR_DOMAIN_JOB_FAILED=4,
    VIR_DOMAIN_JOB_CANCELLED=5, VIR_DOMAIN_JOB_STATS_COMPLETED=1, VIR_DOMAIN_XML_INACTIVE=2,
    VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE=1, VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE=4,
    VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY=2)


class Checkpoint:
    def __init__(self, dom, name):
        self.dom, self.name = dom, name

    def getName(self):
        return self.name

    def delete(self, flags):
        del self.dom.checkpoints[self.name]
        if not flags & LIBVIRT.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY:
            self.dom.bitmaps.discard(self.name)


class Domain:
    """A running domain: ``bitmaps`` are in its qcow2 disk, ``checkpoints``
    what libvirt knows here; ``job`` how its backup job ends."""

    def __init__(self, bitmaps=(), job=3):
        self.bitmaps, self.checkpoints, self.job, self.backups = set(bitmaps), {}, job, []

    def name(self):
        return "masterauth"

    def isActive(self):
        return True

    def XMLDesc(self, flags):
        return DOMAIN

    def fsFreeze(self):
        raise LibvirtError("QEMU guest agent is not connected")

    def listAllCheckpoints(self, flags):
        return [Checkpoint(self, n) for n in self.checkpoints]

    def checkpointLookupByName(self, name, flags):
        if name not in self.checkpoints:
            raise LibvirtError("no checkpoint %s" % name)
        return Checkpoint(self, name)

    def checkpointCreateXML(self, xml, flags):
        name = ET.fromstring(xml).findtext("name")
        assert flags & LIBVIRT.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE
        assert ET.fromstring(xml).findtext("creationTime"), "libvirt wants the time of a redefined checkpoint"
        if flags & LIBVIRT.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE and name not in self.bitmaps:
            raise LibvirtError("checkpoint inconsistent: missing or broken bitmap '%s' for disk 'vda'" % name)
        self.checkpoints[name] = xml

    def backupBegin(self, xml, checkpoint, flags):
        root = ET.fromstring(xml)
        incremental = root.findtext("incremental")
        if incremental and incremental not in self.checkpoints:
            raise LibvirtError("no checkpoint %s" % incremental)
        self.backups.append(incremental)
        target = root.find("disks/disk/target").get("file")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", target, "1M"], check=True)
        if checkpoint:
            name = ET.fromstring(checkpoint).findtext("name")
            self.checkpoints[name] = checkpoint
            self.bitmaps.add(name)

    def jobInfo(self):
        return [LIBVIRT.VIR_DOMAIN_JOB_NONE]

    def jobStats(self, flags):
        return {"type": self.job, "errmsg": "No space left on device"}


def _run(dom):
    def run(argv):
        if argv[:2] == ["qemu-img", "info"] and argv[-1] == DISK:
            bitmaps = [{"name": n, "flags": ["auto"], "granularity": 65536} for n in sorted(dom.bitmaps)]
            return 0, json.dumps({"format-specific": {"type": "qcow2", "data": {"bitmaps": bitmaps}}}), ""
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    return run


def _take(tmp_path, dom, parent=None, incremental=True, backup_id="B"):
    settings = {"freeze": True, "timeout": 60, "qemu_img": "qemu-img", "incremental": incremental,
                "parent": parent, "parent_detail": None}
    warnings = []
    data, _seconds = job.take_backup(LIBVIRT, dom, "masterauth", str(tmp_path / backup_id),
                                     vb.disks_of(DOMAIN), settings, _run(dom), warnings.append)
    return data, warnings


def test_a_backup_on_its_parents_bitmap_is_incremental_and_leaves_only_its_own(tmp_path):
    (tmp_path / "A").mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "A" / "vda.qcow2"), "1M"], check=True)
    dom = Domain(bitmaps={"havirt-A"})
    data, warnings = _take(tmp_path, dom, parent="A")
    assert (data["kind"], data["parent"], data["checkpoint"]) == ("incremental", "A", "havirt-B")
    assert dom.backups == ["havirt-A"]
    # No checkpoint left in libvirt (a transient domain loses them; an
    # undefine refuses them); the disk keeps the new bitmap only.
    assert (dom.checkpoints, dom.bitmaps) == ({}, {"havirt-B"})
    assert sorted(os.listdir(tmp_path / "B")) == ["manifest.json", "parent-A", "vda.qcow2"]
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(tmp_path / "B" / "vda.qcow2")],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["backing-filename"] == "../A/vda.qcow2"
    assert warnings == []


def test_a_missing_or_broken_parent_bitmap_makes_a_full_copy_and_says_why(tmp_path):
    dom = Domain(bitmaps={"havirt-old"})
    data, _warnings = _take(tmp_path, dom, parent="A")
    assert (data["kind"], data["parent"], data["checkpoint"]) == ("full", None, "havirt-B")
    assert data["kind_detail"] == ("a full copy: the dirty bitmap of backup A cannot be used (checkpoint "
                                   "inconsistent: missing or broken bitmap 'havirt-A' for disk 'vda')")
    assert dom.backups == [None]
    # havirt-old (a backup that never reached the backup host) is gone too.
    assert (dom.checkpoints, dom.bitmaps) == ({}, {"havirt-B"})
    assert "parent-A" not in os.listdir(tmp_path / "B")


def test_a_failed_backup_drops_its_own_bitmap_and_keeps_its_parents(tmp_path):
    dom = Domain(bitmaps={"havirt-A"}, job=LIBVIRT.VIR_DOMAIN_JOB_FAILED)
    with pytest.raises(vb.BackupError, match="failed: No space left on device; the VM kept running"):
        _take(tmp_path, dom, parent="A")
    assert (dom.checkpoints, dom.bitmaps) == ({}, {"havirt-A"})
    assert not (tmp_path / "B").exists()


def test_without_incremental_backups_no_bitmap_is_made_or_touched(tmp_path):
    dom = Domain(bitmaps={"havirt-A"})
    data, _warnings = _take(tmp_path, dom, parent="A", incremental=False)
    assert (data["kind"], data["checkpoint"], data["kind_detail"]) == ("full", None, "incremental backups are off")
    assert (dom.checkpoints, dom.bitmaps, dom.backups) == ({}, {"havirt-A"}, [None])
