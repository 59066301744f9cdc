"""The domain_disk_size module's decisions, fed with libvirt's XML of
running domains captured in the labs (fixtures/domain_disk): passata on
its DRBD device and masterauth on its qcow2 file on OCFS2 (VM lab),
passata on a LUN through QEMU's iSCSI client (day-two container lab).
The grow itself is proven in the VM lab (test_disk_grow.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import domain_disk as m

FIXTURES = Path(__file__).parent / "fixtures" / "domain_disk"
MIB = 1024 * 1024


def disk(name, target="vda"):
    return m.disk_of((FIXTURES / name).read_text(), target)


def test_a_drbd_disk_is_a_block_device():
    assert disk("passata-vmlab-drbd-live.xml") == dict(type="block", device="disk", source="/dev/drbd1", format="raw")


def test_an_image_file_on_the_shared_store():
    assert disk("masterauth-vmlab-qcow2-live.xml") == dict(
        type="file", device="disk", source="/cluster/vms/masterauth.qcow2", format="qcow2")


def test_a_lun_through_qemus_iscsi_client_is_a_network_disk():
    found = disk("passata-trixie-lun-live.xml")
    assert (found["type"], found["source"]) == ("network", "iqn.2026-11.org.havirt.lab:servdb.cluster/2")


def test_the_seed_is_another_disk():
    assert disk("passata-trixie-lun-live.xml", "vdb")["source"] == "/var/lib/havirt/seeds/passata.iso"


def test_a_disk_the_domain_does_not_have_names_those_it_has():
    with pytest.raises(m.DiskError, match=r"no disk vdc \(its disks: vda, vdb\)"):
        disk("passata-trixie-lun-live.xml", "vdc")


def test_not_xml():
    with pytest.raises(m.DiskError, match="not XML"):
        m.disk_of("<domain", "vda")


BLOCK = dict(type="block", device="disk", source="/dev/drbd1", format="raw")
FILE = dict(type="file", device="disk", source="/cluster/vms/masterauth.qcow2", format="qcow2")
LUN = dict(type="network", device="disk", source="iqn.2026-11.org.havirt.lab:servdb.cluster/2", format="raw")


def test_a_grown_block_device_is_given_to_the_guest_at_its_size():
    assert m.grow_plan(BLOCK, 320 * MIB, 384 * MIB)[:2] == ("grow", 384 * MIB)


def test_a_block_device_the_guest_sees_whole_is_left_alone():
    assert m.grow_plan(BLOCK, 384 * MIB, 384 * MIB)[0] == "none"


def test_a_file_is_grown_to_the_size_asked_for_and_qemu_makes_the_room():
    # physical is the file's length, not a limit: QEMU grows the file.
    assert m.grow_plan(FILE, 64 * MIB, 1 * MIB, 96 * MIB)[:2] == ("grow", 96 * MIB)
    assert m.grow_plan(FILE, 96 * MIB, 1 * MIB, 96 * MIB)[0] == "none"


def test_a_file_or_a_lun_needs_a_size():
    for found in (FILE, LUN):
        with pytest.raises(m.DiskError, match="give the size it must have"):
            m.grow_plan(found, 64 * MIB, 64 * MIB)


def test_a_smaller_size_is_refused_never_shrunk():
    with pytest.raises(m.DiskError, match="never shrunk. Nothing was changed"):
        m.grow_plan(FILE, 96 * MIB, 1 * MIB, 64 * MIB)


def test_a_block_device_smaller_than_asked_says_what_to_grow_first():
    with pytest.raises(m.DiskError, match="grow the device first"):
        m.grow_plan(BLOCK, 320 * MIB, 320 * MIB, 384 * MIB)


def test_a_size_is_taken_in_whole_sectors():
    assert m.grow_plan(BLOCK, 320 * MIB, 384 * MIB + 100)[1] == 384 * MIB


def test_a_cdrom_is_never_resized():
    with pytest.raises(m.DiskError, match="not a disk"):
        m.grow_plan(dict(BLOCK, device="cdrom"), 1, 2)
