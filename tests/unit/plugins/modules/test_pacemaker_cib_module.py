"""The pacemaker_cib module's flow, with run_command answering as the real
cibadmin did (fixtures/pacemaker_cib). The normal flow also runs against
the lab's real cluster (molecule/default/tests/test_pacemaker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.havirt.cluster.plugins.modules import pacemaker_cib

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_cib"
LAB = (FIXTURES / "lab-cluster.xml").read_text()
SET_200 = ('<meta_attributes id="havirt-rsc-defaults">'
           '<nvpair id="havirt-rsc-defaults-resource-stickiness" name="resource-stickiness" value="200"/>'
           '<nvpair id="havirt-rsc-defaults-migration-threshold" name="migration-threshold" value="3"/>'
           '</meta_attributes>')


def captured(name):
    return int((FIXTURES / f"{name}.rc").read_text()), "", (FIXTURES / f"{name}.stderr").read_text()


@pytest.fixture
def run(run_module):
    def runner(args, query=(0, LAB, ""), write=(0, "", ""), binary="/usr/sbin/cibadmin", check_mode=False, diff=False):
        calls = []

        def run_command(argv, data):
            calls.append((argv, data))
            return query if argv[1:] == ["--query"] else write
        kind, result = run_module(pacemaker_cib.main, args, run_command, binary, check_mode=check_mode, diff=diff)
        return kind, result, calls
    return runner


def test_missing_cibadmin_names_the_package(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), binary=None)
    assert kind == "fail" and "pacemaker-cli-utils" in result["msg"] and calls == []


def test_cluster_not_running_says_what_to_check(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), query=captured("query-no-cluster"))
    assert kind == "fail" and len(calls) == 1
    assert "Could not connect to the CIB: No such device or address" in result["msg"]
    assert "systemctl status corosync pacemaker" in result["msg"]


def test_check_mode_reads_only_and_reports_the_diff(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200), check_mode=True, diff=True)
    assert kind == "exit" and result["changed"] and result["action"] == "replace"
    assert [call[0][1:] for call in calls] == [["--query"]]
    assert 'value="100"' in result["diff"]["before"] and 'value="200"' in result["diff"]["after"]


def test_replace_pipes_the_element_in(run):
    kind, result, calls = run(dict(section="rsc_defaults", xml=SET_200))
    assert kind == "exit" and result["changed"]
    argv, data = calls[1]
    assert argv[1:] == ["--replace", "--scope", "rsc_defaults", "--xml-pipe"]
    assert 'value="200"' in data and "200" not in " ".join(argv)


def test_unchanged_element_writes_nothing(run):
    same = SET_200.replace('value="200"', 'value="100"')
    kind, result, calls = run(dict(section="rsc_defaults", xml=same))
    assert kind == "exit" and not result["changed"] and len(calls) == 1 and result["before"] == result["after"]


def test_refused_update_keeps_cibadmin_words(run):
    kind, result, calls = run(dict(section="resources", xml='<primitive id="bad" class="ocf"/>'),
                              write=captured("create-invalid"))
    assert kind == "fail" and "does not conform to the configured schema" in result["msg"]
    assert result["msg"].startswith("cibadmin could not create resources 'bad' (rc 78)")


def test_absent_deletes_and_returns_empty_after(run):
    kind, result, calls = run(dict(section="resources", id="fence-lab", state="absent"), diff=True)
    assert kind == "exit" and result["action"] == "delete" and result["after"] == "" and result["diff"]["after"] == ""
    assert calls[1] == (["/usr/sbin/cibadmin", "--delete", "--scope", "resources", "--xml-pipe"],
                        '<primitive id="fence-lab" />')


def test_bad_xml_fails_before_reading_the_cib(run):
    kind, result, calls = run(dict(section="resources", xml="<primitive class='ocf'/>"))
    assert kind == "fail" and "no id attribute" in result["msg"] and calls == []
