"""Unit tests for the pacemaker_cib planning functions, fed with real
cibadmin output (fixtures/pacemaker_cib/README.md says how each was made).
The command lines they return were run against real cibadmin on copies of
these CIBs (CIB_file) in the lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import pacemaker_cib as m

FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker_cib"
LAB = (FIXTURES / "lab-cluster.xml").read_text()
EMPTY = (FIXTURES / "empty.xml").read_text()

STICKY = """<meta_attributes id="havirt-rsc-defaults">
  <nvpair id="havirt-rsc-defaults-resource-stickiness" name="resource-stickiness" value="100"/>
  <nvpair id="havirt-rsc-defaults-migration-threshold" name="migration-threshold" value="3"/>
</meta_attributes>"""


def test_finds_an_element_by_id_in_its_section():
    has_section, element = m.find(LAB, "resources", "fence-lab")
    assert has_section and element.get("type") == "fence_podman"
    assert m.find(LAB, "constraints", "fence-lab") == (True, None)
    # Not in the status section, where the same id appears as lrm_resource.
    assert m.find(LAB, "constraints", "status-1")[1] is None
    assert m.find(EMPTY, "rsc_defaults", "havirt-rsc-defaults") == (False, None)


def test_same_element_with_other_attribute_order_and_spacing_is_unchanged():
    wanted = m.parse_element("""<meta_attributes id="havirt-rsc-defaults"><!-- ours -->
        <nvpair value="100" name="resource-stickiness" id="havirt-rsc-defaults-resource-stickiness"/>
        <nvpair id="havirt-rsc-defaults-migration-threshold"   name="migration-threshold" value="3" />
      </meta_attributes>""")
    todo = m.plan(LAB, "rsc_defaults", wanted=wanted)
    assert todo["action"] == "none"


def test_a_changed_value_is_a_replace_of_that_element_only():
    wanted = m.parse_element(STICKY.replace('value="100"', 'value="200"'))
    todo = m.plan(LAB, "rsc_defaults", wanted=wanted)
    assert todo["action"] == "replace"
    assert 'value="100"' in m.pretty(todo["before"]) and 'value="200"' in m.pretty(todo["after"])
    args, data = m.command("replace", "rsc_defaults", wanted=todo["after"], current=todo["before"])
    assert args == ["--replace", "--scope", "rsc_defaults", "--xml-pipe"]
    assert data.startswith('<meta_attributes id="havirt-rsc-defaults">') and 'value="200"' in data


def test_a_removed_child_counts_as_a_change():
    wanted = m.parse_element(STICKY.replace(
        '  <nvpair id="havirt-rsc-defaults-migration-threshold" name="migration-threshold" value="3"/>\n', ""))
    assert m.plan(LAB, "rsc_defaults", wanted=wanted)["action"] == "replace"


def test_a_missing_section_is_created_with_the_element():
    wanted = m.parse_element(STICKY)
    todo = m.plan(EMPTY, "rsc_defaults", wanted=wanted)
    assert todo["action"] == "create-section" and todo["before"] is None
    args, data = m.command(todo["action"], "rsc_defaults", wanted=wanted)
    assert args == ["--create", "--scope", "configuration", "--xml-pipe"]
    assert data.startswith("<rsc_defaults><meta_attributes id=\"havirt-rsc-defaults\">")


def test_a_missing_element_in_an_existing_section_is_created():
    wanted = m.parse_element('<rsc_location id="passata-avoids-servdb" rsc="passata" node="servdb" score="-INFINITY"/>')
    todo = m.plan(LAB, "constraints", wanted=wanted)
    assert todo["action"] == "create"
    assert m.command("create", "constraints", wanted=wanted)[0] == ["--create", "--scope", "constraints", "--xml-pipe"]


def test_delete_sends_only_tag_and_id():
    todo = m.plan(LAB, "resources", element_id="fence-lab")
    assert todo["action"] == "delete"
    args, data = m.command("delete", "resources", current=todo["before"])
    assert args == ["--delete", "--scope", "resources", "--xml-pipe"] and data == '<primitive id="fence-lab" />'
    assert m.plan(LAB, "resources", element_id="no-such-thing")["action"] == "none"


def test_same_id_with_another_tag_is_refused():
    wanted = m.parse_element('<group id="fence-lab"/>')
    with pytest.raises(m.CibError, match=r"already has an element with id 'fence-lab', but it is a <primitive>"):
        m.plan(LAB, "resources", wanted=wanted)


@pytest.mark.parametrize("text, message", [
    ("<primitive id='x'", "not well-formed"),
    ('<primitive class="ocf"/>', "has no id attribute on its top element <primitive>"),
])
def test_bad_xml_is_refused(text, message):
    with pytest.raises(m.CibError, match=message):
        m.parse_element(text)


def test_unknown_section_and_broken_cib_are_refused():
    with pytest.raises(m.CibError, match="unknown CIB section 'resource'"):
        m.plan(LAB, "resource", element_id="x")
    with pytest.raises(m.CibError, match="not well-formed"):
        m.find("Could not connect to the CIB", "resources", "x")
    with pytest.raises(m.CibError, match="without a <configuration> section"):
        m.find("<cib/>", "resources", "x")


def test_pretty_is_stable_and_escapes_values():
    element = m.parse_element('<nvpair value="a&amp;b &quot;c&quot;" name="n" id="i"/>')
    assert m.pretty(element) == '<nvpair id="i" name="n" value="a&amp;b &quot;c&quot;"/>\n'
    assert m.pretty(None) == ""
    assert m.pretty(m.find(LAB, "rsc_defaults", "havirt-rsc-defaults")[1]) == STICKY + "\n"
