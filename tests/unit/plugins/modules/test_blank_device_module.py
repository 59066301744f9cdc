"""The blank_device module: wipefs, blkid and partx answer as they did for
real disk images (module_utils/fixtures/blockdev); the bytes are read from
files made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import blank_device

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "blockdev"
TOOL = "/usr/sbin/tool"
MIB = 1024 * 1024


def captured(name, tool):
    def read(suffix, default):
        path = FIXTURES / f"{name}.{tool}.{suffix}"
        return path.read_text() if path.exists() else default
    return int(read("rc", "0")), read("stdout", ""), read("stderr", "")


@pytest.fixture
def probe(run_module, tmp_path):
    """probe(image, args, first=b"", last=b"") -> (kind, result, calls):
    the module on a 64 MiB file holding FIRST at its start and LAST at its
    end, the tools answering as they did for IMAGE."""
    def runner(name, args=None, first=b"", last=b"", check_mode=False, binary=TOOL):
        path = tmp_path / "disk.img"
        with open(path, "wb") as handle:
            handle.truncate(64 * MIB)
            handle.write(first)
            handle.seek(64 * MIB - len(last))
            handle.write(last)
        calls = []

        def run_command(argv, _data):
            calls.append(argv)
            if "--no-act" in argv:
                return captured(name, "wipefs")
            if "--pairs" in argv:
                return captured(name, "partx")
            if "--probe" in argv:
                return captured(name, "part1.blkid" if "--offset" in argv else "blkid")
            raise AssertionError("unexpected command %r" % argv)
        kind, result = run_module(blank_device.main, dict(dict(path=str(path)), **(args or {})), run_command, binary,
                                  check_mode=check_mode)
        return kind, result, calls
    return runner


def test_a_blank_device_passes(probe):
    kind, result, calls = probe("zeros")
    assert kind == "exit" and result["blank"] and not result["changed"]
    assert result["holds"] == [] and result["signatures"] == [] and result["existing"] is None


def test_a_partitioned_disk_is_refused_naming_the_table_and_the_file_system(probe, tmp_path):
    kind, result, calls = probe("gpt-ext4", first=b"\x55\xaa", last=b"EFI PART")
    assert kind == "fail" and not result["blank"] and not result["changed"]
    assert result["msg"] == (
        "%s is not blank: it holds: gpt partition table; partition 1 (63 MiB at 1 MiB): ext4 file system labelled "
        "'data'. Nothing was changed. If its data may be destroyed, set force=true for one run." % (tmp_path / "disk.img"))
    assert [s["type"] for s in result["signatures"]] == ["gpt", "gpt", "PMBR"]
    assert result["partitions"][0]["holds"][0]["label"] == "data"


def test_the_caller_says_what_would_allow_it(probe):
    kind, result, calls = probe("ext4", {"allow": ["ocfs2"], "hint": "Set ocfs2_force_format: true for one run."})
    assert kind == "fail"
    assert result["msg"].endswith("is neither blank nor only ocfs2: it holds: ext4 file system labelled 'precious'. "
                                  "Nothing was changed. Set ocfs2_force_format: true for one run.")


def test_an_allowed_file_system_is_kept_and_returned(probe):
    kind, result, calls = probe("ocfs2", {"allow": ["ocfs2"]}, first=b"OCFSV2")
    assert kind == "exit" and not result["blank"]
    assert result["existing"]["type"] == "ocfs2" and result["existing"]["label"] == "havirt-vms"
    assert result["holds"] == ["ocfs2 file system labelled 'havirt-vms'"]


def test_an_allowed_file_system_with_another_is_refused(probe):
    kind, result, calls = probe("ocfs2-ext4", {"allow": ["ocfs2"]})
    assert kind == "fail" and result["existing"] is None
    assert "ext4 file system labelled 'precious'; ocfs2 file system labelled 'two'" in result["msg"]


def test_data_without_a_signature_is_refused(probe):
    kind, result, calls = probe("zeros", first=b"token-41")
    assert kind == "fail" and "it holds: non-zero bytes in the first MiB." in result["msg"]


def test_a_backup_gpt_left_at_the_end_is_refused(probe):
    kind, result, calls = probe("backup-gpt-only", last=b"EFI PART")
    assert kind == "fail" and "it holds: gpt partition table at byte 67108352." in result["msg"]


def test_force_reports_and_warns_but_does_not_fail(probe):
    kind, result, calls = probe("gpt-ext4", {"force": True, "allow": ["ocfs2"]})
    assert kind == "exit" and not result["blank"] and result["existing"] is None
    assert result["holds"][0] == "gpt partition table"
    assert any("force is set: what it holds may be destroyed: gpt partition table" in w
               for w in result.get("warnings", []))


def test_check_mode_reads_the_same_way(probe):
    normal = probe("gpt-ext4")
    checked = probe("gpt-ext4", check_mode=True)
    assert checked[0] == normal[0] == "fail" and checked[2] == normal[2]
    assert checked[1]["holds"] == normal[1]["holds"]


def test_nothing_is_written(probe, tmp_path):
    kind, result, calls = probe("gpt-ext4", first=b"\x55\xaa", last=b"EFI PART")
    flags = [arg for argv in calls for arg in argv]
    assert "--all" not in flags and "-a" not in flags and all("--no-act" in c for c in calls if "--json" in c)
    data = (tmp_path / "disk.img").read_bytes()
    assert data[:2] == b"\x55\xaa" and data[-8:] == b"EFI PART" and data[2:-8].count(b"\0") == len(data) - 10


def test_a_missing_device(run_module, tmp_path):
    kind, result = run_module(blank_device.main, dict(path=str(tmp_path / "absent")),
                              lambda argv, data: pytest.fail("no command may run"), TOOL)
    assert kind == "fail" and result["msg"] == (
        "cannot read %s: No such file or directory. Nothing was changed." % (tmp_path / "absent"))


def test_without_util_linux(probe):
    kind, result, calls = probe("zeros", binary=None)
    assert kind == "fail" and "install the util-linux package" in result["msg"] and calls == []


def test_results_are_json(probe):
    kind, result, calls = probe("gpt-ext4")
    json.dumps(result)
