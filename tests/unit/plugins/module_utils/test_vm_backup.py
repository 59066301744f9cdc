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


# Incremental backups (format 2).

QCOW2_AND_RAW = FILE_AND_BLOCK  # vda qcow2 file, vdb raw DRBD device, sda a read-only seed
CAPTURED_INCREMENTAL = (FIXTURES / "manifest-incremental.json").read_text()
LISTING = (FIXTURES / "rsync-list-only-chains.txt").read_text()
BITMAPS = (FIXTURES / "qemu-img-info-bitmaps.json").read_text()


def test_a_checkpoint_puts_a_bitmap_in_the_backed_up_disks_only():
    disks = [d for d in m.disks_of(QCOW2_AND_RAW) if d["target"] == "vda"]
    root = ET.fromstring(m.checkpoint_xml(QCOW2_AND_RAW, disks, "havirt-20261205T023000Z"))
    assert root.findtext("name") == "havirt-20261205T023000Z"
    assert [(d.get("name"), d.get("checkpoint")) for d in root.findall("disks/disk")] == [
        ("vda", "bitmap"), ("vdb", "no"), ("sda", "no")]
    # Created with the backup: libvirt sets the time; redefined: it must be given.
    assert root.find("creationTime") is None
    again = ET.fromstring(m.checkpoint_xml(QCOW2_AND_RAW, disks, "havirt-x", 1765000000.7))
    assert again.findtext("creationTime") == "1765000000"


def test_an_incremental_backup_document_names_its_parents_checkpoint():
    disks = [d for d in m.disks_of(QCOW2_AND_RAW) if d["target"] == "vda"]
    root = ET.fromstring(m.backup_xml(QCOW2_AND_RAW, disks, "/b/x.partial", incremental="havirt-20261204T023000Z"))
    assert root.findtext("incremental") == "havirt-20261204T023000Z"
    assert ET.fromstring(m.backup_xml(QCOW2_AND_RAW, disks, "/b")).find("incremental") is None


def test_only_qcow2_files_and_devices_can_be_backed_up_incrementally():
    disks = m.disks_of(QCOW2_AND_RAW)
    assert m.incremental_problem(disks[:1]) is None
    assert m.incremental_problem(disks) == (
        "disk vdb is raw: only qcow2 disks keep the dirty bitmap an incremental backup reads")
    lun = dict(disks[0], source={"kind": "iscsi", "host": "10.210.1.10"})
    assert "iSCSI LUN QEMU reaches by itself" in m.incremental_problem([lun])
    assert "iscsi" in m.disks_of(LIVE)[0]["source"]["kind"] and "raw" in m.incremental_problem(m.disks_of(LIVE))


def test_stale_bitmaps_are_ours_but_the_one_kept():
    # qemu-img info of a lab disk: havirt-E (the last backup's), another of
    # ours and someone else's (qemu-img bitmap --add).
    assert m.stale_bitmaps(BITMAPS, ["havirt-E"]) == ["havirt-20261206T023000Z"]
    assert m.stale_bitmaps(BITMAPS) == ["havirt-E", "havirt-20261206T023000Z"]
    assert m.stale_bitmaps(json.dumps({"format-specific": {"type": "raw"}})) == []
    with pytest.raises(m.BackupError, match="no JSON"):
        m.stale_bitmaps("qemu-img: Could not open")


def test_a_captured_incremental_manifest_reads_back():
    data = m.read_manifest(CAPTURED_INCREMENTAL, "exp")
    assert (data["format"], data["kind"], data["parent"], data["checkpoint"]) == (2, "incremental", "D", "havirt-E")
    orphan = dict(json.loads(CAPTURED_INCREMENTAL), parent=None)
    with pytest.raises(m.BackupError, match="incremental and names no parent"):
        m.read_manifest(json.dumps(orphan))
    # A backup written before incremental backups (format 1) is a full one.
    old = dict(_manifest(), format=1)
    for key in ("kind", "parent", "checkpoint", "kind_detail"):
        old.pop(key)
    assert m.read_manifest(json.dumps(old), "passata")["disks"]


def test_the_manifest_says_what_kind_of_backup_it_is():
    assert (_manifest()["kind"], _manifest()["kind_detail"]) == ("full", "incremental backups are off")
    disks = m.disks_of(LIVE)
    chain = {"kind": "incremental", "parent": "20261203T000000Z", "checkpoint": "havirt-20261204T080031Z",
             "detail": "what changed since backup 20261203T000000Z"}
    data = m.manifest("passata", "20261204T080031Z", "s", "e", m.CRASH_CONSISTENT, "d", disks, INACTIVE,
                      {"vda": {"virtual": 1, "actual": 1}}, chain)
    assert (data["kind"], data["parent"], data["checkpoint"]) == (
        "incremental", "20261203T000000Z", "havirt-20261204T080031Z")


def test_the_chains_are_read_from_the_backup_hosts_listing():
    # rsync --list-only --recursive through rrsync, from a lab hypervisor:
    # A full, B on A, C full (A's bitmap was gone), D on C, E on D.
    parents = m.parents_from_listing(LISTING)
    assert parents == {"A": None, "B": "A", "C": None, "D": "C", "E": "D"}
    assert m.chain_of(parents, "E") == ["C", "D", "E"]
    assert m.chain_of(parents, "B") == ["A", "B"]
    # A transfer in progress (no manifest yet) is not complete.
    assert "F" not in m.parents_from_listing(LISTING + "-rw-r--r--  0 2026/12/07 22:40:00 F/parent-E\n")


def test_a_broken_chain_is_named():
    with pytest.raises(m.BackupError, match="incremental on C, which is not complete on the backup host"):
        m.chain_of({"D": "C", "E": "D"}, "E")
    with pytest.raises(m.BackupError, match="backup X is not complete"):
        m.chain_of({"A": None}, "X")
    with pytest.raises(m.BackupError, match="loops"):
        m.chain_of({"A": "B", "B": "A"}, "A")
    with pytest.raises(m.BackupError, match="two parents"):
        m.parent_of(["manifest.json", "parent-A", "parent-B"])


@pytest.mark.parametrize("full_every, expected", [
    (7, ("E", "on E")),
    (3, (None, "the chain of E already holds 3 backup(s) (full_every 3)")),
    (1, (None, "the chain of E already holds 3 backup(s) (full_every 1)")),
])
def test_the_next_backup_builds_on_the_newest_until_its_chain_is_long_enough(full_every, expected):
    assert m.next_parent(m.parents_from_listing(LISTING), full_every) == expected


def test_the_next_backup_is_full_without_a_whole_chain_to_build_on():
    assert m.next_parent({}, 7) == (None, "no earlier backup of this VM to build on")
    # The newest is incremental on a backup that is gone: the newest whole one.
    assert m.next_parent({"A": None, "C": "B"}, 7) == ("A", "on A")


def test_retention_keeps_whole_chains():
    parents = m.parents_from_listing(LISTING)
    ids = sorted(parents)
    # The newest two (D, E) build on C: C stays; A and B go.
    assert m.expired(ids, 2, parents) == ["A", "B"]
    assert m.expired(ids, 4, parents) == []  # B (kept) needs A
    # An incremental whose parent is gone can never be restored: it goes.
    assert m.expired(["B2", "C"], 5, {"B2": "A", "C": None}) == ["B2"]


def test_the_backup_hosts_retention_keeps_the_chains_of_the_backups_it_keeps():
    now = 1_000_000.0
    day = 86400
    entries = [
        ("20261201T020000Z", True, now - 4 * day, None),
        ("20261202T020000Z", True, now - 3 * day, "20261201T020000Z"),
        ("20261203T020000Z", True, now - 2 * day, "20261202T020000Z"),
        ("20261204T020000Z", True, now - day, None),
        ("20261204T030000Z", False, now - 2 * day, "20261204T020000Z"),
    ]
    assert m.prune_plan(entries, 1, now) == [
        "20261204T030000Z", "20261201T020000Z", "20261202T020000Z", "20261203T020000Z"]
    assert m.prune_plan(entries, 2, now) == ["20261204T030000Z"]


def _qemu_img(*args):
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def _qemu_io(image, *commands):
    argv = ["qemu-io", "-f", "qcow2"]
    for command in commands:
        argv += ["-c", command]
    return subprocess.run(argv + [image], check=True, capture_output=True, text=True).stdout


def test_an_incremental_copy_keeps_what_it_did_not_copy_and_what_the_guest_zeroed(tmp_path):
    """The commands run for real (qemu-img, qemu-io): an incremental copy
    as libvirt writes it (a qcow2 backed by the live disk, holding a cluster
    the guest wrote and one it zeroed) becomes a compressed qcow2 which,
    backed by the parent's copy, reads as the disk did: the parent's data
    where nothing was written, the new data, and zeros where the guest
    zeroed. Without the stub, qemu-img convert would turn the zeroed
    cluster into a hole that reads the parent's data."""
    parent_dir, backup_dir = tmp_path / "P", tmp_path / "B.partial"
    parent_dir.mkdir()
    backup_dir.mkdir()
    parent = str(parent_dir / "vda.qcow2")
    _qemu_img("create", "-q", "-f", "qcow2", parent, "4M")
    _qemu_io(parent, "write -P 0xaa 0 4M")
    live = str(tmp_path / "live.qcow2")
    _qemu_img("create", "-q", "-f", "qcow2", live, "4M")
    copy = m.backup_file(str(backup_dir), "vda")
    _qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", live, copy, "4M")
    _qemu_io(copy, "write -P 0xbb 0 64k", "write -z 1M 64k")
    final = str(backup_dir / m.final_file("vda"))
    stub = str(backup_dir / "vda.stub.qcow2")
    for argv in m.incremental_commands("qemu-img", copy, final, stub, m.parent_file("P", "vda"), 4 << 20):
        subprocess.run(argv, check=True, capture_output=True, cwd=tmp_path)
    info = json.loads(_qemu_img("info", "--output=json", "-U", final))
    assert (info["backing-filename"], info["format-specific"]["data"]["compression-type"]) == (
        "../P/vda.qcow2", "zstd")
    # The backup's directory is renamed once complete; the chain resolves beside it.
    (backup_dir).rename(tmp_path / "B")
    read = _qemu_io(str(tmp_path / "B" / "vda.qcow2"), "read -P 0xbb 0 64k", "read -P 0xaa 64k 960k",
                    "read -P 0 1M 64k", "read -P 0xaa 1088k 3008k")
    assert "Pattern verification failed" not in read, read
    assert read.count("read ") == 4
