"""The disk_image module: qemu-img answers as it did for real images
(module_utils/fixtures/qemu_img); the files and the mount table are made
here, so that what the module creates, grows or refuses is seen on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import disk_image

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "qemu_img"
QEMU_IMG = "/usr/bin/qemu-img"
MIB = 1024 * 1024


def captured(name):
    return (int((FIXTURES / f"{name}.rc").read_text()), (FIXTURES / f"{name}.stdout").read_text(),
            (FIXTURES / f"{name}.stderr").read_text())


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A directory the mount table says is an OCFS2 store (the rest of the
    host: ext4), and its mountinfo read by the module."""
    root = tmp_path / "cluster"
    root.mkdir()
    mountinfo = tmp_path / "mountinfo"
    escaped = str(root).replace(" ", "\\040")
    mountinfo.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                         f"90 27 8:16 / {escaped} rw,relatime shared:50 - ocfs2 /dev/sdb rw,_netdev,heartbeat=local\n")
    monkeypatch.setattr(disk_image, "MOUNTINFO", str(mountinfo))
    return root


@pytest.fixture
def module(run_module):
    """module(args, info=None, command=(0, "", ""), check_mode=False, diff=False) -> (kind, result, calls):
    qemu-img info answers with the capture INFO (the file must exist for it to be read); the create or
    resize command answers COMMAND, and a successful create makes the file."""
    def runner(args, info=None, command=(0, "", ""), check_mode=False, diff=False, binary=QEMU_IMG):
        calls = []

        def run_command(argv, _data):
            calls.append(argv)
            if argv[1] == "info":
                assert info, "qemu-img info was not expected"
                return captured(info)
            if argv[1] == "create" and command[0] == 0:
                Path(argv[-2]).write_bytes(b"")
            return command
        kind, result = run_module(disk_image.main, args, run_command, binary, check_mode=check_mode, diff=diff)
        return kind, result, calls
    return runner


def test_a_missing_image_is_created_sparse_0600_in_its_new_directory(module, store):
    path = store / "vms" / "speedauth.img"
    kind, result, calls = module(dict(path=str(path), size="64M", fstype="ocfs2"), diff=True)
    assert kind == "exit" and result["changed"] and result["action"] == "create"
    assert calls == [[QEMU_IMG, "create", "-q", "-f", "raw", str(path), str(64 * MIB)]]
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((store / "vms").stat().st_mode & 0o777) == "0o755"
    assert result["previous_size"] is None and result["virtual_size"] == 64 * MIB
    assert result["diff"]["before"] == "absent" and result["diff"]["after"] == dict(format="raw", virtual_size=64 * MIB)


def test_check_mode_creates_nothing_and_says_what_it_would(module, store):
    path = store / "vms" / "masterauth.qcow2"
    kind, result, calls = module(dict(path=str(path), format="qcow2", size="64M", fstype="ocfs2"), check_mode=True)
    assert kind == "exit" and result["changed"] and result["action"] == "create"
    assert result["command"][:5] == [QEMU_IMG, "create", "-q", "-f", "qcow2"] and calls == []
    assert not (store / "vms").exists()


def test_the_store_not_mounted_is_refused_before_anything_is_written(module, tmp_path, store):
    path = tmp_path / "elsewhere" / "speedauth.img"
    for check_mode in (False, True):
        kind, result, calls = module(dict(path=str(path), size="64M", fstype="ocfs2"), check_mode=check_mode)
        assert kind == "fail" and calls == [] and not path.parent.exists()
        assert result["msg"].startswith(f"refusing to write {path}: {path.parent} is on ext4 (/dev/vda, mounted at /)")
        assert result["msg"].endswith("not on ocfs2: is the shared store mounted? Nothing was changed.")


def test_an_image_of_the_size_is_left_alone(module, store):
    path = store / "a.img"
    path.write_bytes(b"")
    kind, result, calls = module(dict(path=str(path), size="64M", fstype="ocfs2"), info="info-raw")
    assert kind == "exit" and not result["changed"] and result["action"] == "none"
    assert [argv[1] for argv in calls] == ["info"] and "-U" in calls[0]
    assert result["virtual_size"] == result["previous_size"] == 64 * MIB and result["actual_size"] == 4096


def test_an_image_is_checked_without_a_size(module, store):
    path = store / "b.qcow2"
    path.write_bytes(b"")
    kind, result, _calls = module(dict(path=str(path), format="qcow2"), info="info-qcow2")
    assert kind == "exit" and not result["changed"]


def test_a_bigger_size_grows_the_image(module, store):
    path = store / "a.img"
    path.write_bytes(b"")
    kind, result, calls = module(dict(path=str(path), size="128M"), info="info-raw", command=captured("resize-raw"),
                                 diff=True)
    assert kind == "exit" and result["changed"] and result["action"] == "grow"
    assert calls[-1] == [QEMU_IMG, "resize", "-q", "-f", "raw", str(path), str(128 * MIB)]
    assert result["diff"]["before"] == dict(format="raw", virtual_size=64 * MIB)


def test_growing_an_image_a_running_vm_holds_says_how_to_grow_it_live(module, store):
    path = store / "a.img"
    path.write_bytes(b"")
    kind, result, _calls = module(dict(path=str(path), size="128M"), info="info-raw-in-use",
                                  command=captured("resize-raw-locked"))
    assert kind == "fail" and not result["changed"]
    assert "in use by a running VM (QEMU holds its lock)" in result["msg"]
    assert f"virsh blockresize VM vda {128 * MIB}B" in result["msg"] and result["msg"].endswith("Nothing was changed.")


@pytest.mark.parametrize("args, info, message", [
    (dict(size="32M"), "info-raw", "is 64 MiB (67108864 bytes), bigger than the 32 MiB (33554432 bytes) asked"),
    (dict(size="64M", format="qcow2"), "info-raw", "is a raw image, not qcow2 as asked; it is never converted"),
    (dict(size="64M"), "info-qcow2", "is a qcow2 image, not raw as asked"),
    (dict(size="1.5G"), None, "size '1.5G' is not a size"),
])
def test_what_would_lose_or_mangle_data_is_refused_and_nothing_runs(module, store, args, info, message):
    path = store / "a.img"
    if info:
        path.write_bytes(b"")
    kind, result, calls = module(dict(args, path=str(path)), info=info)
    assert kind == "fail" and message in result["msg"] and result["msg"].endswith("Nothing was changed.")
    assert [argv[1] for argv in calls] in ([], ["info"])


def test_a_missing_image_without_a_size_is_refused(module, store):
    kind, result, calls = module(dict(path=str(store / "nothere.img")))
    assert kind == "fail" and "does not exist and no size was given to create it" in result["msg"] and calls == []


def test_a_failed_create_is_reported_with_qemu_imgs_words(module, store):
    path = store / "a.img"
    kind, result, _calls = module(dict(path=str(path), size="64M"), command=captured("create-no-parent"))
    assert kind == "fail" and "Could not create" in result["msg"] and "rc 1" in result["msg"]


def test_without_qemu_img_the_package_to_install_is_named(module, store):
    kind, result, _calls = module(dict(path=str(store / "a.img"), size="64M"), binary=None)
    assert kind == "fail" and "apt install qemu-utils" in result["msg"]


def test_growing_an_image_of_a_vm_running_on_another_hypervisor_is_refused_before_qemu_img_runs(module, store):
    """On OCFS2 with O2CB, fcntl locks are per node: from another hypervisor
    qemu-img sees no lock (seen in the VM lab: `qemu-img info` opened a qcow2
    image a QEMU on the other node held), so the caller says where the VM runs."""
    path = store / "b.qcow2"
    path.write_bytes(b"")
    kind, result, calls = module(dict(path=str(path), format="qcow2", size="128M", in_use_on=["servvirt1"]),
                                 info="trixie-info-qcow2")
    assert kind == "fail" and [argv[1] for argv in calls] == ["info"]
    assert "is the disk of a VM running on servvirt1" in result["msg"] and "virsh blockresize VM vda" in result["msg"]
    # Where nothing needs growing, a running VM changes nothing.
    kind, result, _calls = module(dict(path=str(path), format="qcow2", size="64M", in_use_on=["servvirt1"]),
                                  info="trixie-info-qcow2")
    assert kind == "exit" and not result["changed"]


# A copy of a source image (a cloud image): these run the real qemu-img of
# this machine (qemu-utils) on files made here, not captured answers.

def _real(argv, _data):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def _qemu_io(path, command, fmt="qcow2"):
    return subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(path)], capture_output=True, text=True, check=False)


def _info(path):
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)], capture_output=True,
                                     text=True, check=True).stdout)


@pytest.fixture
def source(tmp_path):
    """A 64 MiB qcow2 with a pattern written 1 MiB in."""
    path = tmp_path / "images" / "debian-13.qcow2"
    path.parent.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    assert _qemu_io(path, "write -P 0x5a 1M 64k").returncode == 0
    return path


@pytest.mark.skipif(not shutil.which("qemu-img") or not shutil.which("qemu-io"), reason="needs qemu-utils")
def test_a_missing_image_is_copied_from_its_source_grown_and_never_copied_again(run_module, store, source):
    path = store / "vms" / "passata.qcow2"
    args = dict(path=str(path), format="qcow2", size="128M", source=str(source), fstype="ocfs2")
    kind, result = run_module(disk_image.main, args, _real, shutil.which("qemu-img"), diff=True)
    assert kind == "exit" and result["changed"] and result["action"] == "create", result
    assert result["source"] == str(source) and [c[1] for c in result["commands"]] == ["convert", "resize"]
    assert _info(path)["format"] == "qcow2" and _info(path)["virtual-size"] == 128 * MIB
    assert _qemu_io(path, "read -P 0x5a 1M 64k").returncode == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600" and sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert result["diff"]["after"] == dict(format="qcow2", virtual_size=128 * MIB)

    # The source changes (a newer cloud image): the VM's disk is the guest's, never copied again.
    assert _qemu_io(source, "write -P 0x11 1M 64k").returncode == 0
    kind, result = run_module(disk_image.main, args, _real, shutil.which("qemu-img"))
    assert kind == "exit" and not result["changed"] and result["commands"] == []
    assert _qemu_io(path, "read -P 0x5a 1M 64k").returncode == 0


@pytest.mark.skipif(not shutil.which("qemu-img") or not shutil.which("qemu-io"), reason="needs qemu-utils")
def test_a_copy_without_a_size_has_the_sources_and_may_change_format(run_module, store, source):
    path = store / "vms" / "speedauth.img"
    kind, result = run_module(disk_image.main, dict(path=str(path), source=str(source)), _real, shutil.which("qemu-img"))
    assert kind == "exit" and result["changed"] and [c[1] for c in result["commands"]] == ["convert"]
    assert _info(path)["format"] == "raw" and _info(path)["virtual-size"] == 64 * MIB == result["virtual_size"]
    assert _qemu_io(path, "read -P 0x5a 1M 64k", fmt="raw").returncode == 0


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="needs qemu-utils")
def test_a_size_under_the_sources_is_refused_and_nothing_is_written(run_module, store, source):
    path = store / "vms" / "masterauth.qcow2"
    kind, result = run_module(disk_image.main, dict(path=str(path), format="qcow2", size="32M", source=str(source)),
                              _real, shutil.which("qemu-img"))
    assert kind == "fail" and not path.parent.exists()
    assert result["msg"] == (f"the source image {source} is 64 MiB ({64 * MIB} bytes), bigger than the 32 MiB "
                             f"({32 * MIB} bytes) asked for {path}: a copy cannot be smaller than its source. Give a "
                             f"size of 64 MiB ({64 * MIB} bytes) or more (or none: the source's). Nothing was changed.")


def test_a_missing_source_is_refused(module, store):
    path = store / "vms" / "soldi.qcow2"
    kind, result, calls = module(dict(path=str(path), source="/cluster/images/nothere.qcow2"))
    assert kind == "fail" and calls == [] and not path.parent.exists()
    assert result["msg"].startswith("the source image /cluster/images/nothere.qcow2 does not exist on this host")


def test_check_mode_says_create_for_a_source_not_copied_yet(module, store):
    path = store / "vms" / "soldi.qcow2"
    kind, result, calls = module(dict(path=str(path), format="qcow2", source="/var/lib/havirt/images/x.qcow2"),
                                 check_mode=True)
    assert kind == "exit" and result["changed"] and result["action"] == "create" and result["commands"] == []
    assert result["source"] == "/var/lib/havirt/images/x.qcow2" and calls == [] and not path.parent.exists()


def test_a_copy_that_fails_leaves_no_partial_file(run_module, store, tmp_path):
    src = tmp_path / "src.qcow2"
    src.write_bytes(b"")
    path = store / "vms" / "soldi.qcow2"

    def run_command(argv, _data):
        if argv[1] == "info":
            return captured("info-qcow2")
        Path(argv[-1]).write_bytes(b"half")  # convert wrote part of it, then failed
        return 1, "", "qemu-img: error while writing at byte 1048576: No space left on device"
    kind, result = run_module(disk_image.main, dict(path=str(path), format="qcow2", source=str(src)), run_command,
                              QEMU_IMG)
    assert kind == "fail" and not result["changed"]
    assert "No space left on device. Nothing was changed." in result["msg"]
    assert list(path.parent.iterdir()) == []
