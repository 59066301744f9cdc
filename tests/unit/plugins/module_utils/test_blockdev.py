"""Unit tests for the "this device holds nothing" check, fed with what
util-linux 2.38.1 printed for real disk images (fixtures/blockdev/README.md)
and, for the bytes, with files made here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import blockdev as m

FIXTURES = Path(__file__).parent / "fixtures" / "blockdev"
MIB = 1024 * 1024


def captured(name, tool):
    """(rc, stdout, stderr) of TOOL for image NAME, as captured."""
    def read(suffix, default):
        path = FIXTURES / f"{name}.{tool}.{suffix}"
        return path.read_text() if path.exists() else default
    return int(read("rc", "0")), read("stdout", ""), read("stderr", "")


def out(name, tool):
    return captured(name, tool)[1]


class Replay:
    """An AnsibleModule stand-in answering wipefs, blkid and partx with what
    they printed for image NAME; records every command."""

    def __init__(self, name, tools=("wipefs", "blkid", "partx")):
        self.name = name
        self.tools = tools
        self.calls = []

    def get_bin_path(self, tool):
        return "/usr/sbin/" + tool if tool in self.tools else None

    def run_command(self, argv, environ_update=None):
        self.calls.append(argv)
        assert environ_update and environ_update["LC_ALL"] == "C"
        tool = os.path.basename(argv[0])
        if tool == "blkid" and "--offset" in argv:
            tool = "part1.blkid"
        return captured(self.name, tool)


def image(tmp_path, first=b"", last=b"", size=64 * MIB):
    """A sparse file of SIZE bytes with FIRST at its start and LAST at its end."""
    path = tmp_path / "disk.img"
    with open(path, "wb") as handle:
        handle.truncate(size)
        handle.write(first)
        if last:
            handle.seek(size - len(last))
            handle.write(last)
    return str(path)


# --- the parsers ---------------------------------------------------------

def test_wipefs_lists_a_gpt_twice_and_its_protective_mbr():
    assert m.parse_wipefs(out("gpt-ext4", "wipefs")) == [
        dict(type="gpt", label="", uuid="", offset=0x200, usage="partition-table"),
        dict(type="gpt", label="", uuid="", offset=0x3fffe00, usage="partition-table"),
        dict(type="PMBR", label="", uuid="", offset=0x1fe, usage="partition-table"),
    ]


def test_wipefs_on_whole_device_file_systems():
    ocfs2 = m.parse_wipefs(out("ocfs2", "wipefs"))
    assert [(s["type"], s["label"], s["usage"], s["offset"]) for s in ocfs2] == [
        ("ocfs2", "havirt-vms", "filesystem", 0x2000)]
    assert m.parse_wipefs(out("label", "wipefs"))[0]["label"] == 'my "d a'
    assert [s["type"] for s in m.parse_wipefs(out("ocfs2-ext4", "wipefs"))] == ["ext4", "ocfs2"]


def test_wipefs_finds_nothing_on_zeros_but_a_lone_backup_gpt():
    assert m.parse_wipefs(out("zeros", "wipefs")) == []
    assert m.parse_wipefs("") == []
    assert [(s["type"], s["offset"]) for s in m.parse_wipefs(out("backup-gpt-only", "wipefs"))] == [
        ("gpt", 0x3fffe00)]


def test_wipefs_column_output_is_not_taken_for_json():
    with pytest.raises(m.BlockdevError, match="not its JSON"):
        m.parse_wipefs("gpt-ext4.img 0x200 gpt\n")


def test_blkid_export():
    gpt = m.parse_blkid_export(out("gpt-ext4", "blkid"))
    assert sorted(gpt) == ["PTTYPE", "PTUUID"] and gpt["PTTYPE"] == "gpt"
    ext4 = m.parse_blkid_export(out("ext4", "blkid"))
    assert (ext4["TYPE"], ext4["LABEL"], ext4["USAGE"]) == ("ext4", "precious", "filesystem")
    assert m.parse_blkid_export(out("label", "blkid"))["LABEL"] == 'my "d a'
    # blkid drops the lone backup GPT that wipefs lists.
    assert captured("backup-gpt-only", "blkid") == (2, "", "")


def test_partx_in_bytes():
    assert m.parse_partx(out("gpt-ext4", "partx")) == [dict(
        number=1, start=2048 * 512, size=128991 * 512, type="0fc63daf-8483-4772-8e79-3d69d8477de4", name="data",
        scheme="gpt")]
    assert m.parse_partx(out("dos", "partx"))[0]["type"] == "0x83"
    with pytest.raises(m.BlockdevError):
        m.parse_partx('NAME="x"\n')


def test_signatures_of_a_partition():
    assert m.blkid_signatures(m.parse_blkid_export(out("gpt-ext4", "part1.blkid"))) == [
        dict(type="ext4", label="data", uuid="6f0b6b52-6c1a-4b8e-9d5a-3a1f2b4c5d6e", offset=None, usage="filesystem")]
    assert captured("dos", "part1.blkid") == (2, "", "")


def test_blkid_adds_what_wipefs_did_not_list():
    blkid = m.blkid_signatures(m.parse_blkid_export(out("gpt-ext4", "blkid")))
    assert [s["type"] for s in m.merge_signatures([], blkid)] == ["gpt"]
    wiped = m.parse_wipefs(out("gpt-ext4", "wipefs"))
    assert m.merge_signatures(wiped, blkid) == wiped


# --- the bytes -----------------------------------------------------------

@pytest.mark.parametrize("first, last, size, expected", [
    (b"", b"", 64 * MIB, []),
    (b"\0" * 510 + b"\x55\xaa", b"", 64 * MIB, ["first MiB"]),
    (b"", b"backup", 64 * MIB, ["last MiB"]),
    (b"x", b"y", 64 * MIB, ["first MiB", "last MiB"]),
    # Exactly two MiB: the two areas cover all of it.
    (b"", b"y", 2 * MIB, ["last MiB"]),
    # Smaller than 2 MiB: read whole.
    (b"", b"z", 2 * MIB - 1, ["whole device (2097151 bytes)"]),
    (b"", b"", 1000, []),
    (b"", b"", 0, []),
])
def test_nonzero_areas(tmp_path, first, last, size, expected):
    assert m.nonzero_areas(image(tmp_path, first, last, size)) == expected


def test_nonzero_areas_reads_only_the_first_and_the_last_mib(tmp_path):
    path = image(tmp_path, size=4 * MIB)
    with open(path, "r+b") as handle:
        handle.seek(MIB + 10)
        handle.write(b"middle")
    assert m.nonzero_areas(path) == []


def test_nonzero_areas_leaves_the_device_as_it_was(tmp_path):
    path = image(tmp_path, b"first", b"last", 4 * MIB)
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)
    m.nonzero_areas(path)
    assert (Path(path).read_bytes(), os.stat(path).st_mtime_ns) == before


def test_nonzero_areas_of_a_missing_device(tmp_path):
    with pytest.raises(FileNotFoundError):
        m.nonzero_areas(str(tmp_path / "absent"))


# --- the whole check, replayed -------------------------------------------

@pytest.mark.parametrize("name, first, last, holds", [
    ("gpt-ext4", b"\x55\xaa", b"EFI PART",
     ["gpt partition table", "partition 1 (63 MiB at 1 MiB): ext4 file system labelled 'data'"]),
    ("lab-gpt-ext4", b"\x55\xaa", b"EFI PART",
     ["gpt partition table", "partition 1 (63 MiB at 1 MiB): ext4 file system labelled 'precious'"]),
    ("dos", b"\x55\xaa", b"", ["dos partition table", "partition 1 (63 MiB at 1 MiB): no signature found in it"]),
    ("ext4", b"\x53\xef", b"", ["ext4 file system labelled 'precious'"]),
    ("ocfs2", b"OCFSV2", b"", ["ocfs2 file system labelled 'havirt-vms'"]),
    ("dos-over-ext4", b"\x55\xaa", b"",
     ["ext4 file system labelled 'precious'", "dos partition table",
      "partition 1 (63 MiB at 1 MiB): no signature found in it"]),
    # blkid rc 8 (ambivalent): wipefs names both.
    ("ocfs2-ext4", b"\x53\xef", b"", ["ext4 file system labelled 'precious'", "ocfs2 file system labelled 'two'"]),
    # Only wipefs sees the lone backup GPT; partx fails on it (rc 1).
    ("backup-gpt-only", b"", b"EFI PART", ["gpt partition table at byte 67108352"]),
    ("zeros", b"", b"", []),
    # No signature at all: the bytes speak.
    ("zeros", b"token-41", b"", ["non-zero bytes in the first MiB"]),
    ("zeros", b"", b"token-41", ["non-zero bytes in the last MiB"]),
])
def test_probe_names_what_the_device_holds(tmp_path, name, first, last, holds):
    report = m.probe(Replay(name), image(tmp_path, first, last))
    assert report["holds"] == holds
    assert m.verdict(report)[0] is (holds == [])


def test_probe_runs_only_commands_that_read(tmp_path):
    path = image(tmp_path)
    module = Replay("gpt-ext4")
    m.probe(module, path)
    assert module.calls == [
        ["/usr/sbin/wipefs", "--no-act", "--json", "--output", "TYPE,LABEL,UUID,OFFSET,USAGE", path],
        ["/usr/sbin/blkid", "--probe", "--output", "export", path],
        ["/usr/sbin/partx", "--pairs", "--output", "NR,START,SECTORS,TYPE,NAME,SCHEME", path],
        ["/usr/sbin/blkid", "--probe", "--offset", str(2048 * 512), "--size", str(128991 * 512), "--output", "export",
         path],
    ]


def test_probe_reports_a_failing_wipefs(tmp_path):
    with pytest.raises(m.BlockdevError, match="rc 1.*probing initialization failed"):
        m.probe(Replay("missing"), image(tmp_path))


def test_probe_of_a_missing_device_fails_before_any_command(tmp_path):
    module = Replay("missing")
    with pytest.raises(m.BlockdevError, match="cannot read .*absent: No such file or directory"):
        m.probe(module, str(tmp_path / "absent"))
    assert module.calls == []


def test_probe_needs_util_linux(tmp_path):
    with pytest.raises(m.BlockdevError, match="partx was not found: install the util-linux package"):
        m.probe(Replay("zeros", tools=("wipefs", "blkid")), image(tmp_path))


# --- the verdict and the message -----------------------------------------

def report_of(tmp_path, name, first=b"x"):
    return m.probe(Replay(name), image(tmp_path, first))


def test_an_allowed_file_system_is_the_existing_one(tmp_path):
    blank, existing, unexpected = m.verdict(report_of(tmp_path, "ocfs2"), ["ocfs2"])
    assert not blank and unexpected == []
    assert (existing["type"], existing["label"]) == ("ocfs2", "havirt-vms")


def test_an_allowed_file_system_beside_another_is_refused(tmp_path):
    blank, existing, unexpected = m.verdict(report_of(tmp_path, "ocfs2-ext4"), ["ocfs2"])
    assert existing is None and unexpected == ["ext4 file system labelled 'precious'",
                                               "ocfs2 file system labelled 'two'"]


def test_what_is_not_allowed_is_refused(tmp_path):
    for name in ("ext4", "gpt-ext4", "dos"):
        blank, existing, unexpected = m.verdict(report_of(tmp_path, name), ["ocfs2"])
        assert not blank and existing is None and unexpected


def test_allowing_gpt_allows_its_protective_mbr(tmp_path):
    blank, existing, unexpected = m.verdict(report_of(tmp_path, "gpt-ext4"), ["gpt"])
    assert existing["type"] == "gpt" and unexpected == []


def test_data_without_signature_is_refused_even_with_an_allow_list(tmp_path):
    blank, existing, unexpected = m.verdict(report_of(tmp_path, "zeros", b"data"), ["ocfs2"])
    assert existing is None and unexpected == ["non-zero bytes in the first MiB"]


def test_blank_is_accepted(tmp_path):
    assert m.verdict(report_of(tmp_path, "zeros", b""), ["ocfs2"]) == (True, None, [])


def test_refusal_says_where_what_that_nothing_changed_and_how_to_allow():
    assert m.refusal("/dev/sdb", ["gpt partition table", "partition 1 (63 MiB at 1 MiB): ext4 file system"], [],
                     "Set x_force: true for one run.") == (
        "/dev/sdb is not blank: it holds: gpt partition table; partition 1 (63 MiB at 1 MiB): ext4 file system. "
        "Nothing was changed. Set x_force: true for one run.")
    assert m.refusal("/dev/sdb", ["ext4 file system"], ["ocfs2"]).startswith(
        "/dev/sdb is neither blank nor only ocfs2: it holds: ext4 file system.")


def test_sizes_for_people():
    assert [m.human_size(n) for n in (512, 1024, MIB, 128991 * 512, 3 * 1024 ** 3)] == [
        "512 bytes", "1 KiB", "1 MiB", "63 MiB", "3 GiB"]


# --- the real tools, where this machine has them ---------------------------

class Real:
    def get_bin_path(self, tool):
        return shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")

    def run_command(self, argv, environ_update=None):
        done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **environ_update),
                              check=False)
        return done.returncode, done.stdout, done.stderr


@pytest.mark.skipif(not all(Real().get_bin_path(t) for t in ("wipefs", "blkid", "partx", "mkfs.ext4")),
                    reason="util-linux and e2fsprogs are needed")
def test_real_tools_on_real_images(tmp_path):
    path = image(tmp_path, size=16 * MIB)
    assert m.probe(Real(), path)["holds"] == []
    subprocess.run([Real().get_bin_path("mkfs.ext4"), "-q", "-F", "-L", "precious", path], check=True)
    report = m.probe(Real(), path)
    assert report["holds"] == ["ext4 file system labelled 'precious'"]
    assert [(s["type"], s["offset"]) for s in report["signatures"]] == [("ext4", 0x438)]
