"""Unit tests for the DRBD parsers, fed with output captured in the VM lab
(drbd-utils 9.22 against the Debian 12 kernel's DRBD 8.4.11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import drbd as m

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"


def text(name):
    return (FIXTURES / name).read_text()


def test_proc_drbd_without_resources():
    parsed = m.parse_proc_drbd(text("proc_drbd_loaded_no_resources.txt"))
    assert parsed == {"version": "8.4.11", "minors": {}}


def test_proc_drbd_without_module_is_an_error():
    with pytest.raises(m.DrbdOutputError, match="kernel module"):
        m.parse_proc_drbd("")


@pytest.mark.parametrize("blank", ["", "\n", None])
def test_proc_drbd_minors_of_no_text_is_empty(blank):
    # A host without the module has no /proc/drbd: the filters read ''.
    assert m.proc_drbd_minors(blank) == {}


def test_proc_drbd_minors_of_a_loaded_module():
    assert m.proc_drbd_minors(text("proc_drbd_loaded_no_resources.txt")) == {}
    assert m.proc_drbd_minors(text("proc_drbd_connected_primary.txt"))[1]["role"] == "Primary"


def test_proc_drbd_minors_of_another_text_is_an_error():
    with pytest.raises(m.DrbdOutputError, match="version"):
        m.proc_drbd_minors("cat: /proc/drbd: Permission denied")


@pytest.mark.parametrize("name, expected", [
    ("proc_drbd_wfconnection_inconsistent.txt",
     dict(cstate="WFConnection", role="Secondary", peer_role="Unknown", disk="Inconsistent", peer_disk="DUnknown",
          protocol="C", out_of_sync_kib=65496)),
    ("proc_drbd_wfconnection_forced_primary.txt",
     dict(cstate="WFConnection", role="Primary", peer_role="Unknown", disk="UpToDate", peer_disk="DUnknown",
          protocol="C", out_of_sync_kib=65496)),
    # A disconnected resource shows no protocol letter.
    ("proc_drbd_standalone.txt",
     dict(cstate="StandAlone", role="Secondary", peer_role="Unknown", disk="UpToDate", peer_disk="DUnknown",
          protocol="", out_of_sync_kib=65496)),
])
def test_proc_drbd_minor(name, expected):
    assert m.parse_proc_drbd(text(name))["minors"] == {1: expected}


def test_gi_of_new_metadata_is_just_created():
    gi = m.parse_gi(text("get_gi_just_created.txt"))
    assert gi["just_created"] and gi["current"] == m.JUST_CREATED
    assert not any(gi["flags"].values())


def test_gi_after_forced_primary():
    gi = m.parse_gi(text("get_gi_forced_primary.txt"))
    assert not gi["just_created"]
    assert gi["current"] == "4CD7E6DD56D106F5" and gi["bitmap"] == m.JUST_CREATED
    assert gi["flags"]["consistent"] and gi["flags"]["was_up_to_date"] and gi["flags"]["primary"]
    assert not gi["flags"]["connected"]


def test_gi_of_a_resource_taken_down_reads_the_metadata():
    gi = m.parse_gi(text("get_gi_down_consistent.txt"))
    assert gi["flags"]["consistent"] and not gi["flags"]["primary"]


@pytest.mark.parametrize("bad", ["", "No valid meta data found", "4CD7:0:0:0:1:1:1:0:0:0:0"])
def test_gi_rejects_what_is_not_gi(bad):
    with pytest.raises(m.DrbdOutputError):
        m.parse_gi(bad)


def test_messages_are_recognised():
    assert m.no_metadata(text("dump_md_no_metadata.stderr"))
    assert not m.no_metadata(text("role_unconfigured.stderr"))
    assert m.not_in_config(text("sh_ll_dev_unknown.stderr"))
    assert not m.not_in_config(text("dump_md_no_metadata.stderr"))


def test_adjust_dry_run_lists_commands():
    commands = m.parse_adjust_dry_run(text("adjust_dry_run_down.txt"))
    assert commands[0] == "drbdsetup-84 new-resource r0" and len(commands) == 5
    assert m.parse_adjust_dry_run("") == []


def test_adjust_dry_run_with_the_shared_secret_redacted():
    commands = m.redact_secrets(m.parse_adjust_dry_run(text("adjust_dry_run_down_shared_secret.txt")))
    assert commands[-1] == (
        "/lib/drbd/drbdsetup-84 connect r0 ipv4:127.0.0.1:7789 ipv4:10.0.2.16:7789 --verify-alg=sha256 "
        "--shared-secret=******** --cram-hmac-alg=sha256 --allow-two-primaries=no --protocol=C")
    assert commands[:4] == m.parse_adjust_dry_run(text("adjust_dry_run_down_shared_secret.txt"))[:4]


@pytest.mark.parametrize("name, secret", [
    ("adjust_dry_run_down_shared_secret.txt", "vmlab-only-drbd-secret"),
    # drbdadm shell-quotes the option: --shared-secret=two\ words
    ("adjust_dry_run_down_shared_secret_with_space.txt", "words"),
    # A failed drbdsetup command, named whole in drbdadm's message.
    ("connect_no_module_shared_secret.stderr", "vmlab-only-drbd-secret"),
    # The configuration: shared-secret "two words";
    ("dump_all_shared_secret_with_space.txt", "words"),
])
def test_redact_secrets_leaves_no_secret(name, secret):
    original = text(name)
    redacted = m.redact_secrets(original)
    assert secret in original and secret not in redacted and "********" in redacted
    # Everything else is kept.
    assert redacted.count("\n") == original.count("\n")
    assert ("--cram-hmac-alg=sha256" in redacted) or ("cram-hmac-alg    sha256;" in redacted)


def test_redact_secrets_in_the_configuration_keeps_its_syntax():
    assert 'shared-secret    "********";' in m.redact_secrets(text("dump_all_shared_secret_with_space.txt"))
    assert m.redact_secrets("shared-secret plain;") == "shared-secret ********;"


def test_redact_secrets_goes_through_results():
    line = text("connect_no_module_shared_secret.stderr").splitlines()[-1]
    result = m.redact_secrets(dict(msg=line, commands=[line], status={}, changed=True, nested=(line,)))
    assert "vmlab-only-drbd-secret" not in repr(result)
    assert result["changed"] is True and result["status"] == {} and isinstance(result["nested"], tuple)
    assert result["msg"].endswith("--shared-secret=******** --cram-hmac-alg=sha256 --allow-two-primaries=no "
                                  "--protocol=C' terminated with exit code 20")


def status(cstate, disk, peer_disk):
    return dict(cstate=cstate, role="Secondary", peer_role="Secondary", disk=disk, peer_disk=peer_disk,
                protocol="C", out_of_sync_kib=0)


NEW = m.parse_gi(text("get_gi_just_created.txt"))
USED = m.parse_gi(text("get_gi_forced_primary.txt"))


@pytest.mark.parametrize("state, gi, expected", [
    (status("Connected", "Inconsistent", "Inconsistent"), NEW, True),
    # The peer has data: it syncs to us by itself, never force.
    (status("SyncTarget", "Inconsistent", "UpToDate"), NEW, False),
    (status("Connected", "Inconsistent", "Inconsistent"), USED, False),
    # Not connected: we cannot know the peer's disk.
    (status("WFConnection", "Inconsistent", "DUnknown"), NEW, False),
    ({}, NEW, False),
    (status("Connected", "Inconsistent", "Inconsistent"), None, False),
])
def test_needs_initial_sync_only_for_new_resources_on_both_sides(state, gi, expected):
    assert m.needs_initial_sync(state, gi) is expected


def test_describe():
    assert m.describe({}) == "down"
    parsed = m.parse_proc_drbd(text("proc_drbd_wfconnection_inconsistent.txt"))["minors"][1]
    assert m.describe(parsed) == "WFConnection Secondary/Unknown Inconsistent/DUnknown"


# Growing a resource. The sizes are the VM lab's: a 64 MiB backing device
# gave 65496 KiB of device (proc_drbd_wfconnection_inconsistent.txt: all
# of it out of sync), a 320 MiB one 327632 KiB (passata and scratch).
MIB = 1024 * 1024


@pytest.mark.parametrize("backing, usable", [
    (64 * MIB, 65496 * 1024),
    (320 * MIB, 327632 * 1024),
    # Past 128 MiB steps the bitmap takes one more 4 KiB.
    (128 * MIB, 128 * MIB - 40 * 1024),
    (128 * MIB + 512, 128 * MIB + 512 - 44 * 1024),
])
def test_usable_size_leaves_room_for_internal_metadata(backing, usable):
    assert m.usable_bytes(backing) == usable


WHOLE_PRIMARY = dict(cstate="Connected", role="Primary", peer_role="Secondary", disk="UpToDate", peer_disk="UpToDate")


def test_a_device_that_uses_its_backing_device_is_not_grown():
    action, reason = m.grow_plan(WHOLE_PRIMARY, 327632 * 1024, 320 * MIB)
    assert action == "none" and "uses its backing device" in reason


def test_rounding_below_a_mib_is_not_a_grow():
    assert m.grow_plan(WHOLE_PRIMARY, 327632 * 1024 - 512 * 1024, 320 * MIB)[0] == "none"


def test_a_grown_backing_device_is_resized_from_either_node_while_one_is_primary():
    assert m.grow_plan(WHOLE_PRIMARY, 327632 * 1024, 384 * MIB)[0] == "resize"
    peer_primary = dict(WHOLE_PRIMARY, role="Secondary", peer_role="Primary")
    assert m.grow_plan(peer_primary, 327632 * 1024, 384 * MIB)[0] == "resize"


def test_without_a_primary_the_grow_waits_for_the_vm():
    both_secondary = dict(WHOLE_PRIMARY, role="Secondary")
    action, reason = m.grow_plan(both_secondary, 327632 * 1024, 384 * MIB)
    assert action == "wait" and "neither node is Primary" in reason


@pytest.mark.parametrize("name", ["proc_drbd_syncsource.txt", "proc_drbd_standalone.txt",
                                  "proc_drbd_wfconnection_forced_primary.txt"])
def test_a_resyncing_or_disconnected_resource_is_not_grown(name):
    status = m.parse_proc_drbd(text(name))["minors"][1]
    action, reason = m.grow_plan(status, 65496 * 1024, 384 * MIB)
    assert action == "wait" and "Connected and UpToDate on both nodes" in reason and status["cstate"] in reason
