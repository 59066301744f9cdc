"""Unit tests for the redact filter: a tool's message without the secrets."""

from __future__ import annotations

import pytest

from ansible_collections.havirt.cluster.plugins.filter.redact import redact, secret_values


def test_a_secret_is_masked_everywhere_and_the_rest_kept():
    stderr = 'drbd.conf:41: shared-secret "lab-only-drbd-secret" ... again lab-only-drbd-secret.'
    assert redact(stderr, "lab-only-drbd-secret") == 'drbd.conf:41: shared-secret "********" ... again ********.'


def test_secrets_from_lists_and_dicts_nested():
    secrets = [{"password": "pw-one-1"}, {"secret_options": {"password": "pw-two-2", "port": 623}}, None]
    text = "login pw-one-1 failed, then pw-two-2 on 623"
    assert redact(text, secrets) == "login ******** failed, then ******** on ********"


def test_the_longest_secret_is_masked_first():
    """A short secret inside a longer one must not leave the rest of it."""
    assert redact("abcdefgh-XYZ", ["abcdefgh", "abcdefgh-XYZ"]) == "********"


@pytest.mark.parametrize("secrets", ["", None, [], {}, [None, ""], False])
def test_nothing_to_mask(secrets):
    assert redact("unchanged text", secrets) == "unchanged text"


def test_no_text():
    assert redact(None, "s3cret") == ""


def test_secret_values_ignore_booleans_and_empties_and_stringify_numbers():
    assert secret_values({"a": True, "b": "", "c": 1234, "d": ["xyz"]}) == ["1234", "xyz"]


def test_secrets_from_a_generator_as_jinja_map_gives_them():
    devices = [{"name": "a", "secret_options": {"password": "pw-one-1"}}, {"name": "b"}]
    secrets = (d.get("secret_options", {}) for d in devices)
    assert redact("bad pw-one-1", secrets) == "bad ********"


def test_what_drbdadm_says_with_the_secret_in_it():
    """Captured from drbdadm-84 (Debian 12 drbd-utils 9.22.0) given a
    configuration with a second string after shared-secret: the parser
    names the token it did not expect, here the secret itself."""
    stderr = "drbd.conf:6: Parse error: ';' expected,\n\tbut got 'lab-only-drbd-secret' (TK 282)\n"
    said = redact(stderr, "lab-only-drbd-secret")
    assert said == "drbd.conf:6: Parse error: ';' expected,\n\tbut got '********' (TK 282)\n"
