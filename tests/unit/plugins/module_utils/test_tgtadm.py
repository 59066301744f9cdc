"""module_utils/tgtadm: tgtd's running target read from what tgt 1.0.85
printed (fixtures/tgtadm), and the plan that makes its LUNs the
inventory's, LUN n the n-th entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils.tgtadm import (
    TgtadmError, add_lun_argv, lun_plan, moved_message, parse_targets)

FIXTURES = Path(__file__).parent / "fixtures" / "tgtadm"
IQN = "iqn.2026-11.org.havirt.lab:servdb.cluster"
LIST = ["/srv/iscsi/cluster.img", "/srv/iscsi/passata.img", "/srv/iscsi/speedauth.img", "/srv/iscsi/masterauth.img"]


def _read(name):
    return (FIXTURES / name).read_text()


def test_the_target_sorted_by_tgt_admin_is_read_as_it_runs():
    target = parse_targets(_read("trixie-in-use-sorted.stdout"))[IQN]
    assert target["tid"] == 1
    assert target["luns"] == {1: "/srv/iscsi/cluster.img", 2: "/srv/iscsi/masterauth.img",
                              3: "/srv/iscsi/passata.img", 4: "/srv/iscsi/speedauth.img"}
    assert target["sessions"] == ["iqn.2026-11.org.havirt.lab:vms"] * 3


def test_the_sorted_numbering_is_refused_with_the_order_the_inventory_can_take():
    running = parse_targets(_read("trixie-in-use-sorted.stdout"))[IQN]["luns"]
    plan = lun_plan(running, LIST)
    assert plan["moved"] == [(2, "/srv/iscsi/masterauth.img", "/srv/iscsi/passata.img"),
                             (3, "/srv/iscsi/passata.img", "/srv/iscsi/speedauth.img"),
                             (4, "/srv/iscsi/speedauth.img", "/srv/iscsi/masterauth.img")]
    assert plan["add"] == [] and plan["extra"] == []
    message = moved_message(IQN, plan["moved"], running)
    assert "LUN 2 is /srv/iscsi/masterauth.img, the inventory's entry 2 is /srv/iscsi/passata.img" in message
    assert message.endswith("write iscsi_target_luns in that order: /srv/iscsi/cluster.img, /srv/iscsi/masterauth.img, "
                            "/srv/iscsi/passata.img, /srv/iscsi/speedauth.img. Nothing was changed.")


def test_a_new_entry_is_added_and_the_others_stay():
    running = dict(enumerate(LIST, 1))
    plan = lun_plan(running, LIST + ["/srv/iscsi/soldi.img"])
    assert plan == {"add": [(5, "/srv/iscsi/soldi.img")], "moved": [], "extra": []}
    assert lun_plan(running, LIST) == {"add": [], "moved": [], "extra": []}


def test_a_running_lun_beyond_the_list_is_reported_and_kept():
    running = dict(enumerate(LIST + ["/srv/iscsi/old.img"], 1))
    assert lun_plan(running, LIST) == {"add": [], "moved": [], "extra": [(5, "/srv/iscsi/old.img")]}


def test_no_target_and_garbage():
    assert parse_targets(_read("no-target.stdout")) == {}
    with pytest.raises(TgtadmError):
        parse_targets("tgtadm: can't send the request to the tgt daemon, Transport endpoint is not connected\n")


def test_the_add_command():
    assert add_lun_argv("/usr/sbin/tgtadm", 1, 5, "/srv/iscsi/soldi.img") == [
        "/usr/sbin/tgtadm", "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "5",
        "--backing-store", "/srv/iscsi/soldi.img"]


def test_the_numbered_target_with_a_lun_added_live_is_the_lists():
    target = parse_targets(_read("trixie-numbered.stdout"))[IQN]
    assert target["luns"] == dict(enumerate(LIST + ["/srv/iscsi/soldi.img"], 1))
    assert lun_plan(target["luns"], LIST + ["/srv/iscsi/soldi.img"]) == {"add": [], "moved": [], "extra": []}
    assert lun_plan(target["luns"], LIST)["extra"] == [(5, "/srv/iscsi/soldi.img")]
    assert target["sessions"] and set(target["sessions"]) == {"iqn.2026-11.org.havirt.lab:vms"}
