"""The disk_from_image module, run for real: qemu-img and util-linux on
files made here (a qcow2 image holding an ext4 file system, a sparse LUN
backing file), so that what it writes, keeps or refuses is read back from
the disk. qemu-utils, e2fsprogs and util-linux are in tools/install-deps
(and tools/controller-check's container)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import disk_from_image

MIB = 1024 * 1024
TOOLS = ("qemu-img", "wipefs", "blkid", "partx", "mkfs.ext4")


@pytest.fixture
def image(tmp_path):
    """A 16 MiB qcow2 image holding an ext4 file system labelled root with
    one file, as a cloud image holds its root file system."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    assert not missing, f"install {missing} (tools/install-deps)"
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello").write_text("from the image\n")
    raw = tmp_path / "image.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(tree), str(raw), "16M"], check=True)
    qcow2 = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    raw.unlink()
    return qcow2


@pytest.fixture
def lun(tmp_path):
    """A 32 MiB sparse file, as the iscsi_target role creates a LUN's backing store."""
    path = tmp_path / "lun.img"
    with open(path, "wb") as handle:
        handle.truncate(32 * MIB)
    return path


@pytest.fixture
def module(run_module, tmp_path):
    """module(args, check_mode=False, diff=False, fail_on=None) -> (kind, result, calls): the real tools;
    ``fail_on`` (a qemu-img subcommand) answers rc 1 instead of running it."""
    def runner(args, check_mode=False, diff=False, fail_on=None):
        calls = []

        def run_command(argv, _data):
            calls.append(argv)
            if fail_on and argv[1:2] == [fail_on]:
                return 1, "", "qemu-img: simulated failure of %s" % fail_on
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return done.returncode, done.stdout, done.stderr
        args = dict(dict(state_dir=str(tmp_path / "writes")), **args)
        kind, result = run_module(disk_from_image.main, args, run_command, shutil.which, check_mode=check_mode,
                                  diff=diff)
        return kind, result, calls
    return runner


def _label(path):
    return subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(path)], capture_output=True, text=True,
                          check=False).stdout.strip()


def _read(path, name):
    out = subprocess.run(["debugfs", "-R", f"cat /{name}", str(path)], capture_output=True, text=True, check=False)
    return out.stdout


def test_a_blank_disk_gets_the_image_and_keeps_its_size(module, image, lun):
    kind, result, calls = module(dict(path=str(lun), source=str(image)), diff=True)
    assert kind == "exit" and result["changed"] and result["action"] == "write", result
    assert result["holds"] == [] and result["image_format"] == "qcow2" and result["image_size"] == 16 * MIB
    assert [call[1] for call in calls if call[0].endswith("qemu-img")] == ["info", "convert", "compare"]
    assert lun.stat().st_size == 32 * MIB and _label(lun) == "root"
    assert "from the image" in _read(lun, "hello")
    assert result["diff"]["before"] == "blank" and str(image) in result["diff"]["after"]
    assert not list((lun.parent / "writes").iterdir())


def test_a_disk_that_holds_data_is_kept_whatever_the_image(module, image, lun):
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "guestdata", str(lun)], check=True)
    before = hashlib.sha256(lun.read_bytes()).hexdigest()
    kind, result, calls = module(dict(path=str(lun), source=str(image)))
    assert kind == "exit" and not result["changed"] and result["action"] == "keep", result
    assert any("ext4" in finding and "guestdata" in finding for finding in result["holds"]), result["holds"]
    assert not [call for call in calls if call[1:2] == ["convert"]]
    assert hashlib.sha256(lun.read_bytes()).hexdigest() == before


def test_a_second_run_keeps_what_the_first_wrote(module, image, lun):
    assert module(dict(path=str(lun), source=str(image)))[1]["action"] == "write"
    kind, result, _calls = module(dict(path=str(lun), source=str(image)))
    assert kind == "exit" and not result["changed"] and result["action"] == "keep"
    assert any("root" in finding for finding in result["holds"]), result["holds"]


def test_check_mode_writes_nothing(module, image, lun):
    kind, result, calls = module(dict(path=str(lun), source=str(image)), check_mode=True)
    assert kind == "exit" and result["changed"] and result["action"] == "write"
    assert [call[1] for call in calls if call[0].endswith("qemu-img")] == ["info"]
    assert _label(lun) == "" and result["commands"][0][1] == "convert"


def test_a_write_cut_short_is_written_again_on_the_next_run(module, image, lun, tmp_path):
    # The convert "fails" after the marker was written: as if the run had died mid-write.
    subprocess.run(["qemu-img", "convert", "-q", "-n", "-f", "qcow2", "-O", "raw", str(image), str(lun)], check=True)
    with open(lun, "r+b") as handle:  # half of it: the end of the image lost
        handle.seek(8 * MIB)
        handle.write(b"\0" * 8 * MIB)
    kind, result, _calls = module(dict(path=str(lun), source=str(image)), fail_on="compare")
    assert kind == "exit" and result["action"] == "keep", "without a marker a disk with data is the VM's"
    marker = disk_from_image.marker_path(str(tmp_path / "writes"), str(lun))
    Path(marker).parent.mkdir(parents=True)
    Path(marker).write_text("cut short\n")
    kind, result, _calls = module(dict(path=str(lun), source=str(image)))
    assert kind == "exit" and result["action"] == "write" and result["resumed"], result
    assert not Path(marker).exists()
    assert subprocess.run(["qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(image), str(lun)],
                          check=False).returncode == 0


def test_a_failed_write_leaves_its_marker_and_says_so(module, image, lun, tmp_path):
    kind, result, _calls = module(dict(path=str(lun), source=str(image)), fail_on="compare")
    assert kind == "fail" and "half-written" in result["msg"] and "next run writes it again" in result["msg"]
    assert Path(disk_from_image.marker_path(str(tmp_path / "writes"), str(lun))).exists()
    kind, result, _calls = module(dict(path=str(lun), source=str(image)))
    assert kind == "exit" and result["action"] == "write" and result["resumed"]


def test_a_disk_smaller_than_the_image_is_refused(module, image, tmp_path):
    small = tmp_path / "small.img"
    with open(small, "wb") as handle:
        handle.truncate(8 * MIB)
    kind, result, _calls = module(dict(path=str(small), source=str(image)))
    assert kind == "fail" and "8 MiB (8388608 bytes), smaller than the image" in result["msg"] and "16 MiB" in result["msg"], result
    assert "Nothing was changed." in result["msg"] and _label(small) == ""


def test_a_wrong_checksum_is_refused_before_the_disk_is_written(module, image, lun):
    good = hashlib.sha256(image.read_bytes()).hexdigest()
    bad = "0" * 64
    kind, result, _calls = module(dict(path=str(lun), source=str(image), checksum=f"sha256:{bad}"))
    assert kind == "fail" and good in result["msg"] and bad in result["msg"] and _label(lun) == ""
    kind, result, _calls = module(dict(path=str(lun), source=str(image), checksum=f"SHA256:{good.upper()}"))
    assert kind == "exit" and result["action"] == "write" and _label(lun) == "root"


@pytest.mark.parametrize("checksum", ["sha256", "sha256:xyz", "crc32:" + "0" * 8, "sha1:" + "0" * 64])
def test_a_malformed_checksum_is_refused(module, image, lun, checksum):
    kind, result, _calls = module(dict(path=str(lun), source=str(image), checksum=checksum))
    assert kind == "fail" and "ALGORITHM:HEX" in result["msg"] and _label(lun) == ""


def test_the_disk_of_a_running_vm_is_never_written(module, image, lun):
    kind, result, _calls = module(dict(path=str(lun), source=str(image), in_use_on=["servvirt1"]))
    assert kind == "fail" and "running on servvirt1" in result["msg"] and _label(lun) == ""


def test_a_missing_disk_is_refused(module, image, lun):
    kind, result, _calls = module(dict(path=str(lun) + ".missing", source=str(image)))
    assert kind == "fail" and "does not exist on this host" in result["msg"] and "Nothing was changed." in result["msg"]


def test_a_kept_disk_needs_no_image_and_check_mode_says_write_before_the_image_is_copied(module, image, lun):
    missing = str(image) + ".not-copied-yet"
    kind, result, calls = module(dict(path=str(lun), source=missing), check_mode=True)
    assert kind == "exit" and result["changed"] and result["action"] == "write" and result["image_size"] is None
    kind, result, _calls = module(dict(path=str(lun), source=missing))
    assert kind == "fail" and "copy it there first" in result["msg"]
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "guestdata", str(lun)], check=True)
    kind, result, calls = module(dict(path=str(lun), source=missing))
    assert kind == "exit" and result["action"] == "keep" and not [c for c in calls if c[0].endswith("qemu-img")]
