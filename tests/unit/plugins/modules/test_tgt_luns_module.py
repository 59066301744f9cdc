"""The tgt_luns module: tgtadm answers with what tgt 1.0.85 printed
(module_utils/fixtures/tgtadm); what it adds, refuses or leaves is seen in
the commands it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.modules import tgt_luns

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "tgtadm"
TGTADM = "/usr/sbin/tgtadm"
IQN = "iqn.2026-11.org.havirt.lab:servdb.cluster"
SORTED = ["/srv/iscsi/cluster.img", "/srv/iscsi/masterauth.img", "/srv/iscsi/passata.img", "/srv/iscsi/speedauth.img"]


@pytest.fixture
def module(run_module):
    def runner(luns, show="trixie-in-use-sorted.stdout", show_rc=0, add_rc=0, check_mode=False, diff=False,
               binary=TGTADM):
        calls = []

        def run_command(argv, _data):
            calls.append(argv)
            if "show" in argv:
                return show_rc, (FIXTURES / show).read_text() if show_rc == 0 else "", \
                    "" if show_rc == 0 else "tgtadm: can't send the request to the tgt daemon, Transport endpoint is not connected"
            return add_rc, "", "" if add_rc == 0 else "tgtadm: this logical unit number already exists"
        kind, result = run_module(tgt_luns.main, dict(iqn=IQN, luns=luns), run_command, binary,
                                  check_mode=check_mode, diff=diff)
        return kind, result, [call for call in calls if "show" not in call]
    return runner


def test_a_new_lun_is_added_live_and_the_others_are_left(module):
    kind, result, adds = module(SORTED + ["/srv/iscsi/soldi.img"], diff=True)
    assert kind == "exit" and result["changed"] and result["added"] == [[5, "/srv/iscsi/soldi.img"]]
    assert adds == [[TGTADM, "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "5",
                     "--backing-store", "/srv/iscsi/soldi.img"]]
    assert result["luns"]["5"] == "/srv/iscsi/soldi.img" and len(result["sessions"]) == 3
    assert "5 /srv/iscsi/soldi.img" in result["diff"]["after"] and "soldi" not in result["diff"]["before"]


def test_the_running_luns_as_listed_change_nothing(module):
    kind, result, adds = module(SORTED)
    assert kind == "exit" and not result["changed"] and result["running"] and adds == []


def test_check_mode_adds_nothing(module):
    kind, result, adds = module(SORTED + ["/srv/iscsi/soldi.img"], check_mode=True)
    assert kind == "exit" and result["changed"] and result["added"] == [[5, "/srv/iscsi/soldi.img"]] and adds == []


def test_a_numbering_that_would_swap_disks_is_refused_and_nothing_is_added(module):
    wanted = ["/srv/iscsi/cluster.img", "/srv/iscsi/passata.img", "/srv/iscsi/speedauth.img",
              "/srv/iscsi/masterauth.img", "/srv/iscsi/soldi.img"]
    kind, result, adds = module(wanted)
    assert kind == "fail" and adds == [] and not result["changed"]
    assert "would give each VM another disk" in result["msg"] and result["msg"].endswith("Nothing was changed.")


def test_a_lun_beyond_the_list_is_kept(module):
    kind, result, adds = module(SORTED[:3])
    assert kind == "exit" and not result["changed"] and result["extra"] == [[4, "/srv/iscsi/speedauth.img"]]
    assert adds == []


@pytest.mark.parametrize("case", ["not installed", "not running", "no target"])
def test_a_target_tgtd_does_not_run_is_left_to_the_configuration_file(module, case):
    args = dict(binary=None) if case == "not installed" else dict(show_rc=22) if case == "not running" \
        else dict(show="no-target.stdout")
    kind, result, adds = module(SORTED, **args)
    assert kind == "exit" and not result["changed"] and not result["running"] and adds == []


def test_a_failed_add_says_the_file_has_it(module):
    kind, result, adds = module(SORTED + ["/srv/iscsi/soldi.img"], add_rc=22)
    assert kind == "fail" and "tgt exports it at its next start" in result["msg"] and len(adds) == 1
