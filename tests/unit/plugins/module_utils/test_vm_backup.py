"""The backup and restore decisions (module_utils/vm_backup.py), fed with
the domain XML libvirt printed for a lab VM (fixtures/vm_backup/README.md)
and with file and block disks written as libvirt writes them."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as m

FIXTURES = Path(__file__).parent / "fixtures" / "vm_backup"
LIVE = (FIXTURES / "passata-trixie-live.xml").read_text()
INACTIVE = (FIXTURES / "passata-trixie-inactive.xml").read_text()

FILE_AND_BLOCK = """<domain type='kvm'><name>radius</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/cluster/vms/radius.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='block' device='disk'><driver name='qemu' type='raw' cache='none'/>
    <source dev='/dev/drbd1'/><target dev='vdb' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
    <source file='/var/lib/havirt/seeds/radius.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
</devices></domain>"""


@pytest.mark.parametrize("xml", [LIVE, INACTIVE])
def test_the_lab_vms_iscsi_disk_is_backed_up_and_its_seed_is_not(xml):
    disks = m.disks_of(xml)
    assert disks == [{"target": "vda", "format": "raw", "source": {
        "kind": "iscsi", "host": "10.210.1.10", "port": "3260", "target": "iqn.2026-11.org.havirt.lab:servdb.cluster",
        "lun": "2", "user": "havirt-lab", "secret_usage": "havirt-iscsi-chap",
        "initiator": "iqn.2026-11.org.havirt.lab:vms"}}]


def test_file_and_block_disks_keep_their_format_and_a_cdrom_is_left_out():
    assert m.disks_of(FILE_AND_BLOCK) == [
        {"target": "vda", "format": "qcow2", "source": {"kind": "file", "path": "/cluster/vms/radius.qcow2"}},
        {"target": "vdb", "format": "raw", "source": {"kind": "block", "path": "/dev/drbd1"}},
    ]


def test_the_backup_document_copies_the_disk_and_names_the_seed_as_not_backed_up():
    doc = ET.fromstring(m.backup_xml(LIVE, m.disks_of(LIVE), "/var/lib/havirt/backup/passata/X.partial"))
    assert doc.tag == "domainbackup" and doc.get("mode") == "push"
    disks = {d.get("name"): d for d in doc.iter("disk")}
    assert disks["vda"].get("backup") == "yes"
    assert disks["vda"].find("target").get("file") == "/var/lib/havirt/backup/passata/X.partial/vda.copy.qcow2"
    assert disks["vda"].find("driver").get("type") == "qcow2"
    assert disks["vdb"].get("backup") == "no" and disks["vdb"].find("target") is None


@pytest.mark.parametrize("xml, words", [
    ("<domain><name>a</name><devices/></domain>", "no writable disk"),
    ("<domain><name>a</name><devices><disk type='network' device='disk'><source protocol='rbd' name='p/i'/>"
     "<target dev='vda'/></disk></devices></domain>", "cannot back up"),
    ("<domain><name>a</name><devices><disk type='file' device='disk'><source file='/x'/><target dev='vda'/>"
     "<shareable/></disk></devices></domain>", "shareable"),
    ("<domain>", "does not parse"),
])
def test_disks_it_cannot_handle_are_refused_with_the_reason(xml, words):
    with pytest.raises(m.BackupError, match=words):
        m.disks_of(xml)


@pytest.mark.parametrize("value", ["", "../etc", "a/b", "x.partial", "-x", "a b"])
def test_ids_that_are_not_a_directory_name_are_refused(value):
    with pytest.raises(m.BackupError):
        m.check_id(value)


def test_an_id_of_the_playbook_is_accepted():
    assert m.check_id("20261204T080031Z") == "20261204T080031Z"


def test_freeze_verdicts():
    assert m.freeze_verdict(frozen=2) == (m.CONSISTENT, "2 file system(s) frozen by the guest agent while the backup began")
    assert m.freeze_verdict(frozen=0)[0] == m.CRASH_CONSISTENT
    consistency, detail = m.freeze_verdict(error="QEMU guest agent is not connected")
    assert consistency == m.CRASH_CONSISTENT and "not connected" in detail


def _manifest(**extra):
    disks = m.disks_of(LIVE)
    data = m.manifest("passata", "20261204T080031Z", "s", "e", m.CRASH_CONSISTENT, "d", disks, INACTIVE,
                      {"vda": {"virtual": 67108864, "actual": 197120}})
    data.update(extra)
    return data


def test_a_manifest_reads_back_and_names_its_files():
    data = m.read_manifest(json.dumps(_manifest()), "passata")
    assert data["disks"][0]["file"] == "vda.qcow2" and data["disks"][0]["virtual_size"] == 67108864


@pytest.mark.parametrize("text, vm, words", [
    ("{", "passata", "does not parse"),
    (json.dumps({"format": 9}), "passata", "not a havirt backup"),
    (json.dumps(_manifest()), "speedauth", "of passata, not of speedauth: name the VM it was taken of "
                                           r"\(restore.yml -e vm=passata\), and the VM to write it onto with -e as="),
])
def test_a_manifest_that_is_not_this_vms_is_refused(text, vm, words):
    with pytest.raises(m.BackupError, match=words):
        m.read_manifest(text, vm)


def test_restore_pairs_disks_by_target_and_refuses_a_missing_one():
    backup = m.read_manifest(json.dumps(_manifest()))
    plan = m.restore_plan(backup, m.disks_of(INACTIVE))
    assert [(saved["target"], now["source"]["kind"]) for saved, now in plan] == [("vda", "iscsi")]
    with pytest.raises(m.BackupError, match="no longer has"):
        m.restore_plan(backup, m.disks_of(FILE_AND_BLOCK)[1:])


def test_restore_onto_another_vm_pairs_its_own_disks_and_names_it_when_one_is_missing():
    backup = m.read_manifest(json.dumps(_manifest()))
    other = INACTIVE.replace("<name>passata</name>", "<name>speedauth</name>").replace(
        ":servdb.cluster/2'", ":servdb.cluster/3'")
    assert other != INACTIVE.replace("<name>passata</name>", "<name>speedauth</name>")
    plan = m.restore_plan(backup, m.disks_of(other), "speedauth")
    assert [(saved["target"], now["source"]["lun"]) for saved, now in plan] == [("vda", "3")]
    with pytest.raises(m.BackupError, match="the backup of passata has disk vda, which radius does not have: "
                                            "give radius that disk"):
        m.restore_plan(backup, m.disks_of(FILE_AND_BLOCK)[1:], "radius")


def test_a_disk_smaller_than_its_backup_is_refused_with_both_sizes():
    backup = m.read_manifest(json.dumps(_manifest()))
    plan = m.restore_plan(backup, m.disks_of(INACTIVE), "speedauth")
    assert m.size_problems(plan, {"vda": 67108864}, "speedauth") == []
    assert m.size_problems(plan, {"vda": 2 * 67108864}, "speedauth") == []
    problems = m.size_problems(plan, {"vda": 33554432}, "speedauth")
    assert problems == ["disk vda of speedauth (iSCSI LUN iqn.2026-11.org.havirt.lab:servdb.cluster/2 on 10.210.1.10) "
                        "holds 32 MiB (33554432 bytes) and the backup's vda 64 MiB (67108864 bytes): grow it first "
                        "(disk.size in havirt_vms, site.yml)"]


def test_a_disks_size_is_read_as_the_vm_reads_it():
    lun = m.disks_of(INACTIVE)[0]
    argv = m.size_command("qemu-img", lun, "/etc/havirt/secrets/iscsi-chap")
    assert argv[:3] == ["qemu-img", "info", "--output=json"]
    assert argv[-2] == "--image-opts"
    assert argv[-1] == m.write_command("qemu-img", "/r/vda.qcow2", lun, "/etc/havirt/secrets/iscsi-chap")[-1]
    assert argv[argv.index("--object") + 1] == "secret,id=havirt-chap,file=/etc/havirt/secrets/iscsi-chap"
    qcow, drbd = m.disks_of(FILE_AND_BLOCK)
    assert m.size_command("qemu-img", qcow) == ["qemu-img", "info", "--output=json", "-f", "qcow2",
                                                "/cluster/vms/radius.qcow2"]
    assert m.size_command("qemu-img", drbd)[-3:] == ["-f", "raw", "/dev/drbd1"]


def test_writing_back_onto_an_iscsi_lun_uses_chap_and_the_initiator_name():
    disk = m.disks_of(INACTIVE)[0]
    argv = m.write_command("qemu-img", "/r/vda.qcow2", disk, "/etc/havirt/secrets/iscsi-chap")
    assert argv[:4] == ["qemu-img", "convert", "-p", "-n"]
    assert argv[argv.index("--object") + 1] == "secret,id=havirt-chap,file=/etc/havirt/secrets/iscsi-chap"
    opts = dict(o.split("=", 1) for o in argv[-1].split(","))
    assert argv[-2] == "--target-image-opts"
    assert opts == {"driver": "raw", "file.driver": "iscsi", "file.transport": "tcp",
                    "file.portal": "10.210.1.10:3260", "file.target": "iqn.2026-11.org.havirt.lab:servdb.cluster",
                    "file.lun": "2", "file.user": "havirt-lab", "file.password-secret": "havirt-chap",
                    "file.initiator-name": "iqn.2026-11.org.havirt.lab:vms"}
    with pytest.raises(m.BackupError, match="CHAP"):
        m.write_command("qemu-img", "/r/vda.qcow2", disk, None)


def test_writing_back_onto_a_file_or_a_device_keeps_its_format_and_creates_nothing():
    qcow, drbd = m.disks_of(FILE_AND_BLOCK)
    assert m.write_command("qemu-img", "/r/vda.qcow2", qcow) == [
        "qemu-img", "convert", "-p", "-n", "-f", "qcow2", "/r/vda.qcow2", "-O", "qcow2", "/cluster/vms/radius.qcow2"]
    assert m.write_command("qemu-img", "/r/vdb.qcow2", drbd)[-3:] == ["-O", "raw", "/dev/drbd1"]


def test_retention_keeps_the_newest_and_drops_leftovers():
    ids = ["20261203T000000Z", "20261201T000000Z", "20261202T000000Z", "20261204T000000Z.partial"]
    assert m.expired(ids, 2) == ["20261204T000000Z.partial", "20261201T000000Z"]
    assert m.expired(ids[:1], 7) == []
    with pytest.raises(m.BackupError, match="at least 1"):
        m.expired(ids, 0)


def test_a_scheduled_backup_takes_the_clusters_vms_running_here_in_the_inventorys_order():
    assert m.scheduled(["passata", "speedauth", "masterauth"], ["masterauth", "other", "passata"]) == [
        "passata", "masterauth"]
    assert m.scheduled(["passata"], []) == []


def test_the_backup_hosts_retention_keeps_the_newest_complete_and_clears_stale_transfers():
    now = 1_000_000.0
    entries = [
        ("20261201T020000Z", True, now - 3 * 86400),
        ("20261202T020000Z", True, now - 2 * 86400),
        ("20261203T020000Z", True, now - 86400),
        # interrupted two days ago: its manifest never came
        ("20261202T030000Z", False, now - 2 * 86400),
        # arriving now
        ("20261204T020000Z", False, now - 60),
        # not a backup: left alone
        ("lost+found", False, now - 9 * 86400),
        ("notes .txt", True, now - 9 * 86400),
        ("old", False, now - 9 * 86400),
    ]
    assert m.prune_plan(entries, 2, now) == ["20261202T030000Z", "20261201T020000Z"]
    assert m.prune_plan(entries, 5, now) == ["20261202T030000Z"]
    with pytest.raises(m.BackupError, match="keep at least 1"):
        m.prune_plan(entries, 0, now)


def test_a_backup_is_sent_disks_first_manifest_last_and_leaves_the_scratch_directory(tmp_path):
    """The commands run for real (rsync to a local directory, where the
    backup host's rrsync would root them): after the first the disks are
    there and the manifest is not, so the backup does not count yet."""
    scratch, dest = tmp_path / "scratch", tmp_path / "backups"
    backup = scratch / "passata" / "20261204T030000Z"
    backup.mkdir(parents=True)
    dest.mkdir()
    (backup / "vda.qcow2").write_bytes(b"disk" * 1000)
    (backup / m.MANIFEST).write_text('{"vm": "passata"}')
    first, last = m.send_commands(str(scratch), "passata", "20261204T030000Z", "ssh -i key\n", f"{dest}/")
    assert first[:5] == ["rsync", "--archive", "--relative", "--remove-source-files", "--rsh=ssh -i key"]
    assert first[-2] == f"{scratch}/./passata/20261204T030000Z"
    subprocess.run(first, check=True)
    arrived = dest / "passata" / "20261204T030000Z"
    assert (arrived / "vda.qcow2").read_bytes() == b"disk" * 1000
    assert not (arrived / m.MANIFEST).exists()
    assert not (backup / "vda.qcow2").exists() and (backup / m.MANIFEST).exists()
    subprocess.run(last, check=True)
    assert json.loads((arrived / m.MANIFEST).read_text()) == {"vm": "passata"}
    assert not (backup / m.MANIFEST).exists()


@pytest.mark.parametrize("vm, backup_id", [("../etc", "20261204T030000Z"), ("", "20261204T030000Z"),
                                           ("passata", "../x"), ("passata", "20261204T030000Z.partial")])
def test_nothing_is_sent_for_a_name_that_is_not_one(vm, backup_id):
    with pytest.raises(m.BackupError):
        m.send_commands("/var/lib/havirt/backup", vm, backup_id, "ssh", "root@servdb:")
