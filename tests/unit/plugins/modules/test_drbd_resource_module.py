"""The drbd_resource module's decisions, with drbdadm answering as the real
one did in the VM lab (fixtures/drbd) and /proc/drbd and the backing device
as files. The normal flow is proven for real in the VM lab (molecule/vmlab)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible_collections.havirt.cluster.plugins.modules import drbd_resource

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "drbd"
BLOCKDEV = Path(__file__).parents[1] / "module_utils" / "fixtures" / "blockdev"
DRBDADM = "/usr/sbin/drbdadm"


def text(name):
    return (FIXTURES / name).read_text()


def device(name):
    """What wipefs, blkid and partx printed for the disk image NAME
    (fixtures/blockdev), as answers for the lab below."""
    def captured(tool):
        def read(suffix, default):
            path = BLOCKDEV / f"{name}.{tool}.{suffix}"
            return path.read_text() if path.exists() else default
        return int(read("rc", "0")), read("stdout", ""), read("stderr", "")
    return dict(wipefs=captured("wipefs"), blkid=captured("blkid"), partx=captured("partx"),
                part_blkid=captured("part1.blkid"))


@pytest.fixture
def lab(run_module, tmp_path, monkeypatch):
    """lab(args, proc=..., answers=..., disk=bytes) -> (kind, result, calls).
    ``answers`` maps the drbdadm arguments (joined) to (rc, stdout, stderr),
    and wipefs, blkid, partx and part_blkid (blkid on a partition) to what
    they print (default: the all-zeros image's); sh-* answer with the
    backing file, minor 1 and /dev/drbd1. get_bin_path finds every tool at
    DRBDADM: the arguments tell them apart."""
    proc = tmp_path / "drbd"
    monkeypatch.setattr(drbd_resource, "PROC_DRBD", str(proc))
    monkeypatch.setattr(drbd_resource, "SYS_BLOCK", str(tmp_path / "sys"))
    backing = tmp_path / "backing"

    def runner(args, proc_text, answers, disk=b"\0" * 4096, check_mode=False, diff=False, proc_after=None,
               sizes=None, minor=1):
        """sizes: (backing device, DRBD device before, DRBD device after
        drbdadm resize), in bytes; minor: the resource's."""
        sys_size = tmp_path / "sys" / ("drbd%d" % minor) / "size"
        sys_size.parent.mkdir(parents=True, exist_ok=True)
        proc.write_text(proc_text)
        backing.write_bytes(disk)
        if sizes:
            os.truncate(backing, sizes[0])
            sys_size.write_text("%d\n" % (sizes[1] // 512))
        calls = []
        base = {"sh-ll-dev r0": (0, str(backing) + "\n", ""), "sh-dev r0": (0, "/dev/drbd%d\n" % minor, ""),
                "sh-minor r0": (0, "%d\n" % minor, "")}

        def run_command(argv, _data):
            calls.append(argv)
            blank = device("zeros")
            if "--no-act" in argv:
                return answers.get("wipefs", blank["wipefs"])
            if "--pairs" in argv:
                return answers.get("partx", blank["partx"])
            if "--probe" in argv:
                key = "part_blkid" if "--offset" in argv else "blkid"
                return answers.get(key, blank[key])
            if argv[0] == DRBDADM:
                key = " ".join(argv[1:])
                if key in ("adjust r0",) and proc_after is not None:
                    proc.write_text(proc_after)
                if key == "resize r0" and sizes:
                    sys_size.write_text("%d\n" % (sizes[2] // 512))
                return dict(base, **answers).get(key, (0, "", ""))
            raise AssertionError("unexpected command %r" % argv)
        kind, result = run_module(drbd_resource.main, dict(name="r0", **args), run_command, DRBDADM,
                                  check_mode=check_mode, diff=diff)
        changing = [c[1:] for c in calls
                    if c[0] == DRBDADM and c[1] in ("create-md", "adjust", "primary", "secondary", "down", "resize")]
        return kind, result, changing
    return runner


# get-gi fails without a word; dump-md says why.
NO_MD = {"get-gi r0": (1, "", ""), "dump-md r0": (1, "", text("dump_md_no_metadata.stderr"))}
LOADED = text("proc_drbd_loaded_no_resources.txt")
UP = text("proc_drbd_wfconnection_inconsistent.txt")


def test_new_resource_gets_metadata_and_comes_up(lab):
    kind, result, changing = lab({}, LOADED, dict(NO_MD, **{"-d adjust r0": (0, text("adjust_dry_run_down.txt"), "")}),
                                 proc_after=UP)
    assert kind == "exit" and result["changed"] and result["created_metadata"]
    assert changing == [["create-md", "--force", "r0"], ["adjust", "r0"]]
    assert result["summary"] == "WFConnection Secondary/Unknown Inconsistent/DUnknown"


def test_check_mode_changes_nothing_and_says_what_it_would_do(lab):
    kind, result, changing = lab({}, LOADED, NO_MD, check_mode=True, diff=True)
    assert kind == "exit" and result["changed"] and result["created_metadata"] and changing == []
    assert result["adjust_commands"] == ["drbdadm create-md --force r0", "drbdadm adjust r0"]
    assert result["diff"]["before"] == "r0: down\n"


def test_a_device_with_a_file_system_is_refused(lab):
    kind, result, changing = lab({}, LOADED, dict(NO_MD, **device("ext4")), disk=b"\0" * 1080 + b"\x53\xef")
    assert kind == "fail" and changing == []
    assert "holds data (ext4 file system labelled 'precious'): no DRBD metadata was created for r0 and nothing was " \
           "changed" in result["msg"]
    assert "set initialize_nonempty (drbd_initialize_nonempty in the role) for one run" in result["msg"]


def test_a_partitioned_device_is_refused_naming_what_its_partition_holds(lab):
    kind, result, changing = lab({}, LOADED, dict(NO_MD, **device("gpt-ext4")))
    assert kind == "fail" and changing == []
    assert "holds data (gpt partition table; partition 1 (63 MiB at 1 MiB): ext4 file system labelled 'data')" \
        in result["msg"]


def test_a_device_with_data_but_no_signature_is_refused(lab):
    kind, result, changing = lab({}, LOADED, NO_MD, disk=b"\0" * 100 + b"token-41" + b"\0" * 100)
    assert kind == "fail" and changing == []
    assert "holds data (non-zero bytes in the whole device (208 bytes))" in result["msg"]


def test_data_only_at_the_end_of_the_device_is_refused(lab):
    kind, result, changing = lab({}, LOADED, NO_MD, disk=b"\0" * (4 * 1024 * 1024) + b"token-41")
    assert kind == "fail" and changing == [] and "holds data (non-zero bytes in the last MiB)" in result["msg"]


def test_initialize_nonempty_overrides_the_refusal(lab):
    kind, result, changing = lab({"initialize_nonempty": True}, LOADED, dict(NO_MD, **device("ext4")))
    assert kind == "exit" and result["created_metadata"] and ["create-md", "--force", "r0"] in changing


def test_the_shared_secret_is_never_returned(lab):
    adjust = text("adjust_dry_run_down_shared_secret.txt")
    kind, result, changing = lab({}, LOADED, dict(NO_MD, **{"-d adjust r0": (0, adjust, "")}), proc_after=UP)
    assert kind == "exit" and changing == [["create-md", "--force", "r0"], ["adjust", "r0"]]
    assert "vmlab-only-drbd-secret" not in json.dumps(result)
    assert result["adjust_commands"][-1].startswith("/lib/drbd/drbdsetup-84 connect r0 ")
    assert "--shared-secret=******** --cram-hmac-alg=sha256" in result["adjust_commands"][-1]


def test_the_shared_secret_is_not_in_a_failure(lab):
    adjust = text("adjust_dry_run_down_shared_secret.txt")
    kind, result, changing = lab({}, UP, {"-d adjust r0": (0, adjust, ""),
                                          "adjust r0": (10, "", text("connect_no_module_shared_secret.stderr"))})
    assert kind == "fail" and changing == [["adjust", "r0"]]
    assert "vmlab-only-drbd-secret" not in json.dumps(result)
    assert "terminated with exit code 20" in result["msg"] and "--shared-secret=********" in result["msg"]


def test_existing_metadata_is_never_recreated(lab):
    kind, result, changing = lab({}, LOADED, {"get-gi r0": (0, text("get_gi_down_consistent.txt"), ""),
                                              "-d adjust r0": (0, text("adjust_dry_run_down.txt"), "")},
                                 disk=b"data" * 1000)
    assert kind == "exit" and not result["created_metadata"] and changing == [["adjust", "r0"]]


def test_a_resource_in_sync_with_its_configuration_is_unchanged(lab):
    kind, result, changing = lab({}, UP, {})
    assert kind == "exit" and not result["changed"] and changing == []


def test_unreadable_metadata_is_an_error_not_a_new_resource(lab):
    kind, result, changing = lab({}, LOADED, {"get-gi r0": (1, "", ""),
                                              "dump-md r0": (20, "", "open(/dev/vdb) failed: Device or resource busy")})
    assert kind == "fail" and changing == [] and "cannot read the metadata" in result["msg"]


def test_unknown_resource(lab):
    kind, result, changing = lab({}, LOADED, {"sh-ll-dev r0": (1, "", text("sh_ll_dev_unknown.stderr"))})
    assert kind == "fail" and "not in the DRBD configuration" in result["msg"] and changing == []


def test_no_kernel_module(lab, monkeypatch, tmp_path):
    monkeypatch.setattr(drbd_resource, "PROC_DRBD", str(tmp_path / "absent"))
    kind, result, changing = lab({}, LOADED, {})
    assert kind == "fail" and "kernel module is not loaded" in result["msg"]


def test_initial_sync_is_not_forced_without_a_connected_peer(lab):
    kind, result, changing = lab({"initial_sync_source": True}, UP, {"get-gi r0": (0, text("get_gi_just_created.txt"), "")})
    assert kind == "exit" and changing == [] and result["initial_sync"].startswith("not started")


def test_initial_sync_starts_for_a_new_resource_on_both_sides(lab):
    connected = UP.replace("WFConnection", "Connected").replace("Inconsistent/DUnknown", "Inconsistent/Inconsistent")
    kind, result, changing = lab({"initial_sync_source": True}, connected,
                                 {"get-gi r0": (0, text("get_gi_just_created.txt"), "")})
    assert kind == "exit" and result["changed"] and result["initial_sync"] == "started from this node"
    assert changing == [["primary", "--force", "r0"], ["secondary", "r0"]]


def test_down_takes_an_up_resource_down(lab):
    kind, result, changing = lab({"state": "down"}, UP, {})
    assert kind == "exit" and result["changed"] and changing == [["down", "r0"]]
    kind, result, changing = lab({"state": "down"}, LOADED, {})
    assert kind == "exit" and not result["changed"] and changing == []


def test_missing_drbd_utils(run_module):
    kind, result = run_module(drbd_resource.main, dict(name="r0"), lambda argv, data: (0, "", ""), None)
    assert kind == "fail" and "drbd-utils" in result["msg"]


def test_a_configuration_file_to_check_is_read_instead_of_the_installed_one(run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(drbd_resource, "PROC_DRBD", str(tmp_path / "drbd"))
    (tmp_path / "drbd").write_text(LOADED)
    (tmp_path / "backing").write_bytes(b"\0" * 4096)
    calls = []

    def run_command(argv, _data):
        calls.append(argv)
        answers = {"sh-ll-dev": (0, str(tmp_path / "backing"), ""), "sh-dev": (0, "/dev/drbd1", ""),
                   "sh-minor": (0, "1", ""), "get-gi": (1, "", ""), "dump-md": NO_MD["dump-md r0"]}
        return answers.get(argv[3], (0, "", "")) if argv[0] == DRBDADM else (0, "", "")
    kind, result = run_module(drbd_resource.main, dict(name="r0", config_file="/tmp/scratch/drbd.conf"), run_command,
                              DRBDADM, check_mode=True)
    assert kind == "exit" and result["created_metadata"]
    drbdadm = [c for c in calls if not {"--no-act", "--probe"} & set(c)]
    assert drbdadm and all(c[1:3] == ["--config-file", "/tmp/scratch/drbd.conf"] for c in drbdadm)


# Growing (grow=true). The sizes: the VM lab's 320 MiB backing devices
# (327632 KiB of device), grown to 384 MiB (393168 KiB of device).
MIB = 1024 * 1024
PRIMARY = text("proc_drbd_connected_primary.txt")
GROWN = (384 * MIB, 327632 * 1024, 393168 * 1024)


def test_a_grown_backing_device_grows_the_resource(lab):
    kind, result, changing = lab({"grow": True}, PRIMARY, {}, sizes=GROWN)
    assert kind == "exit" and result["changed"] and changing == [["resize", "r0"]]
    assert result["grow"] == "grown" and result["device_size"] == 393168 * 1024
    assert "from 335495168 to 402604032 bytes" in result["grow_reason"]


def test_check_mode_says_it_would_grow_and_does_not(lab):
    kind, result, changing = lab({"grow": True}, PRIMARY, {}, sizes=GROWN, check_mode=True)
    assert kind == "exit" and result["changed"] and changing == []
    assert result["grow"] == "grown" and result["grow_reason"].startswith("would run drbdadm resize")
    assert result["device_size"] == 327632 * 1024


def test_a_resource_that_uses_its_backing_device_is_left_alone(lab):
    kind, result, changing = lab({"grow": True}, PRIMARY, {}, sizes=(320 * MIB, 327632 * 1024, 0))
    assert kind == "exit" and not result["changed"] and changing == [] and result["grow"] == "none"


def test_a_peer_whose_backing_device_did_not_grow_keeps_the_size_and_says_so(lab):
    kind, result, changing = lab({"grow": True}, PRIMARY, {}, sizes=(384 * MIB, 327632 * 1024, 327632 * 1024))
    assert kind == "exit" and not result["changed"] and changing == [["resize", "r0"]]
    assert result["grow"] == "not grown" and "grow the backing device on the peer" in result["grow_reason"]
    assert any("grow the backing device on the peer" in w for w in result["warnings"])


def test_without_a_primary_the_resource_waits_for_its_vm(lab):
    # scratch (minor 2) in the VM lab: no VM uses it, both sides Secondary.
    kind, result, changing = lab({"grow": True}, text("proc_drbd_connected_both_secondary.txt"), {}, sizes=GROWN,
                                 minor=2)
    assert kind == "exit" and not result["changed"] and changing == []
    assert result["grow"] == "wait" and "neither node is Primary" in result["grow_reason"]


def test_a_resyncing_resource_is_not_grown(lab):
    kind, result, changing = lab({"grow": True}, text("proc_drbd_syncsource.txt"), {}, sizes=GROWN)
    assert kind == "exit" and changing == [] and result["grow"] == "wait"
    assert "SyncSource" in result["grow_reason"]


def test_drbds_refusal_to_resize_is_reported_as_it_said_it(lab):
    # The VM stopped between the status read and the resize: DRBD's answer.
    kind, result, changing = lab({"grow": True}, PRIMARY, {"resize r0": (10, "", text("resize_no_primary.stderr"))},
                                 sizes=GROWN)
    assert kind == "fail" and changing == [["resize", "r0"]]
    assert "Need one Primary node to resize" in result["msg"]
