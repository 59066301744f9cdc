"""The disk image decisions (module_utils/qemu_img.py), fed with what
qemu-img and /proc/self/mountinfo printed for real images and hosts
(fixtures/qemu_img/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import qemu_img as m

FIXTURES = Path(__file__).parent / "fixtures" / "qemu_img"
MIB = 1024 * 1024


def captured(name):
    """(rc, stdout, stderr) of capture NAME."""
    return tuple(int(v) if s == "rc" else v
                 for s, v in (("rc", (FIXTURES / f"{name}.rc").read_text()),
                              ("stdout", (FIXTURES / f"{name}.stdout").read_text()),
                              ("stderr", (FIXTURES / f"{name}.stderr").read_text())))


@pytest.mark.parametrize("text, size", [
    ("64M", 64 * MIB), ("64MiB", 64 * MIB), ("64 MB", 64 * MIB), ("10G", 10 * 1024 * MIB), ("512k", 512 * 1024),
    ("1T", 1024 ** 4), ("65536", 65536), (65536, 65536), ("1000", 1024), (1, 512),
])
def test_sizes_are_read_in_binary_units_and_rounded_to_sectors(text, size):
    assert m.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1G", "10 apples", "1.5G", "G", True, 0])
def test_a_size_that_is_not_one_is_refused_with_how_to_write_it(text):
    with pytest.raises(m.ImageError):
        m.parse_size(text)


def test_human_sizes_name_the_bytes_too():
    assert m.human(64 * MIB) == "64 MiB (67108864 bytes)"
    assert m.human(3 * 512 * MIB) == "1.5 GiB (1610612736 bytes)"
    assert m.human(100) == "100 bytes"


@pytest.mark.parametrize("name, fmt, backing", [
    ("info-raw", "raw", None), ("info-raw-in-use", "raw", None), ("info-qcow2", "qcow2", None),
    ("info-qcow2-backing", "qcow2", "b.qcow2"),
    ("trixie-info-raw", "raw", None), ("trixie-info-qcow2", "qcow2", None),
])
def test_info_of_real_images(name, fmt, backing):
    rc, stdout = captured(name)[:2]
    info = m.parse_info(stdout)
    assert rc == 0 and info["format"] == fmt and info["virtual_size"] == 64 * MIB
    assert info["actual_size"] > 0 and info["backing_file"] == backing


def test_info_that_is_not_json_is_an_error_with_what_was_printed():
    with pytest.raises(m.ImageError, match="does not understand"):
        m.parse_info("qemu-img: something else\n")
    with pytest.raises(m.ImageError):
        m.parse_info('{"filename": "a.img"}')


def test_the_lock_of_a_running_qemu_is_recognized():
    rc, stderr = captured("resize-raw-locked")[0::2]
    assert rc == 1 and m.is_lock_error(stderr)
    for other in ("info-missing", "create-no-parent"):
        assert not m.is_lock_error(captured(other)[2])


def test_mountinfo_of_a_real_host():
    mounts = m.parse_mountinfo(captured("host.mountinfo")[1])
    root = m.mount_of(mounts, "/var/lib/libvirt/images/x.img")
    assert root["mount_point"] == "/" and root["fstype"] == "ext4"
    assert m.mount_of(mounts, "/dev/shm/x")["fstype"] == "tmpfs"
    assert m.mount_of(mounts, "/devices")["mount_point"] == "/"  # /dev is not a prefix of /devices


def test_the_vm_labs_ocfs2_store_is_found_and_the_root_file_system_refused():
    mounts = m.parse_mountinfo(captured("trixie-ocfs2.mountinfo")[1])
    assert m.fstype_problem(mounts, "/cluster/vms/speedauth.img", "ocfs2") is None
    assert m.fstype_problem(mounts, "/cluster/speedauth.img", "ocfs2") is None
    problem = m.fstype_problem(mounts, "/srv/vms/speedauth.img", "ocfs2")
    assert problem.startswith("/srv/vms is on ext4") and "is the shared store mounted?" in problem


def test_the_store_not_mounted_is_refused():
    mounts = m.parse_mountinfo(captured("host.mountinfo")[1])
    problem = m.fstype_problem(mounts, "/cluster/vms/speedauth.img", "ocfs2")
    assert problem == "/cluster/vms is on ext4 (/dev/vda, mounted at /), not on ocfs2: is the shared store mounted?"


def test_escaped_mount_points_and_the_last_mount_on_a_point_win():
    text = ("27 1 254:0 / / rw - ext4 /dev/vda rw\n"
            "40 27 0:50 / /srv/my\\040store rw - ext4 /dev/sdb rw\n"
            "41 40 8:16 / /srv/my\\040store rw,relatime shared:1 - ocfs2 /dev/sdc rw\n")
    mounts = m.parse_mountinfo(text)
    assert m.mount_of(mounts, "/srv/my store/vms/a.img")["fstype"] == "ocfs2"
    with pytest.raises(m.ImageError):
        m.parse_mountinfo("not a mountinfo line\n")


def test_plans():
    raw = m.parse_info(captured("info-raw")[1])
    assert m.plan("/c/a.img", None, "raw", 64 * MIB) == "create"
    assert m.plan("/c/a.img", raw, "raw", 64 * MIB) == "none"
    assert m.plan("/c/a.img", raw, "raw", None) == "none"
    assert m.plan("/c/a.img", raw, "raw", 128 * MIB) == "grow"


def test_plans_that_would_lose_data_are_refused_with_what_to_do():
    raw = m.parse_info(captured("info-raw")[1])
    with pytest.raises(m.ImageError, match=r"is 64 MiB \(67108864 bytes\), bigger than the 32 MiB .* shrinking"):
        m.plan("/c/a.img", raw, "raw", 32 * MIB)
    with pytest.raises(m.ImageError, match="is a raw image, not qcow2 as asked; it is never converted"):
        m.plan("/c/a.img", raw, "qcow2", 64 * MIB)
    with pytest.raises(m.ImageError, match="does not exist and no size"):
        m.plan("/c/a.img", None, "raw", None)
    with pytest.raises(m.ImageError, match="format 'vmdk'"):
        m.plan("/c/a.img", None, "vmdk", MIB)
