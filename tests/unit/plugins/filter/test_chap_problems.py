"""Unit tests for the chap_problems filter: CHAP users and secrets reach
tgt-admin's shell, so only a shell-safe set of characters is accepted, and
no message ever shows a secret."""

from __future__ import annotations

import pytest

from ansible_collections.havirt.cluster.plugins.filter.chap_problems import chap_problems

GOOD = {"user": "havirt-lab", "secret": "lab-only-chap-secret"}
# What `openssl rand -base64 18` prints: 24 characters of base64.
BASE64 = "q3J+/z0aXbY9Lw1mNc8eRA=="


def test_good_credentials_have_no_problem():
    assert chap_problems(GOOD, "iscsi_target_") == []
    assert chap_problems({"user": "u@example.org", "secret": BASE64}) == []


def test_mutual_chap_that_differs_is_fine():
    creds = dict(GOOD, mutual_user="target", mutual_secret="another-secret-12")
    assert chap_problems(creds, "iscsi_target_") == []


@pytest.mark.parametrize("secret", [
    "$(touch /tmp/pwned)",
    # The roles' former pattern (printable, no space or quote) let these through.
    "$(touch${IFS}/tmp/pwned)",
    "`touch${IFS}/tmp/pwned`",
    "`touch /tmp/pwned`xx",
    "abcdefghijkl;reboot",
    "abcdefghijkl|cat /etc/shadow",
    "abcdefghijkl&&true",
    "has a space in it",
    "abcdefghijkl'quote",
    'abcdefghijkl"quote',
    "abcdefghijkl\\backslash",
    "abcdefghijkl#comment",
    "abcdefghijkl\nnewline",
    "-leading-dash-secret",
    "abcdefghijkl<redirect",
    "abcdefghijkl$HOME",
    "abcdefghijkl*glob?",
    "abcdefghijkl~tilde",
])
def test_a_secret_a_shell_would_read_is_refused_and_not_shown(secret):
    problems = chap_problems(dict(GOOD, secret=secret), "iscsi_target_")
    assert len(problems) == 1, problems
    assert problems[0].startswith("iscsi_target_chap_password may hold only letters, digits and ._+/=@%:,-")
    assert "openssl rand -base64 18" in problems[0]
    assert secret not in problems[0]


def test_the_command_substitution_of_the_issue_is_refused_everywhere():
    """`$(touch /tmp/pwned)` as every secret and user of a mutual set."""
    pwned = "$(touch /tmp/pwned)"
    problems = chap_problems({"user": pwned, "secret": pwned, "mutual_user": pwned, "mutual_secret": pwned + "x"},
                             "iscsi_initiator_")
    text = " ".join(problems)
    for name in ("iscsi_initiator_chap_user", "iscsi_initiator_chap_password",
                 "iscsi_initiator_mutual_chap_user", "iscsi_initiator_mutual_chap_password"):
        assert any(p.startswith(name) for p in problems), (name, problems)
    # Users may be shown (they are not secret); the secrets never are.
    assert pwned + "x" not in text
    assert text.count(pwned) == 2


@pytest.mark.parametrize(("secret", "words"), [
    ("short", "must be 12 to 255 characters"),
    ("x" * 256, "must be 12 to 255 characters"),
    ("", "iscsi_target_chap_password is empty"),
    (None, "iscsi_target_chap_password is empty"),
])
def test_secret_length(secret, words):
    problems = chap_problems(dict(GOOD, secret=secret), "iscsi_target_")
    assert len(problems) == 1 and words in problems[0], problems
    if secret:
        assert secret not in problems[0]


def test_twelve_and_255_characters_are_accepted():
    assert chap_problems(dict(GOOD, secret="x" * 12)) == []
    assert chap_problems(dict(GOOD, secret="x" * 255)) == []


@pytest.mark.parametrize(("user", "words"), [
    ("", "vms_iscsi_chap_user is empty"),
    ("bad user", "vms_iscsi_chap_user 'bad user' may hold only"),
    ("-user", "may hold only"),
    ("u$(id)", "may hold only"),
    ("u" * 256, "longer than 255"),
])
def test_user(user, words):
    problems = chap_problems(dict(GOOD, user=user), "vms_iscsi_")
    assert len(problems) == 1 and words in problems[0], problems


def test_a_number_is_checked_as_text():
    assert chap_problems({"user": "u", "secret": 123456789012}) == []


def test_mutual_needs_both_and_a_different_secret():
    only_user = chap_problems(dict(GOOD, mutual_user="target", mutual_secret=""), "iscsi_target_")
    assert only_user == ["mutual CHAP needs both iscsi_target_mutual_chap_user and "
                         "iscsi_target_mutual_chap_password, or neither"]
    same = chap_problems(dict(GOOD, mutual_user="target", mutual_secret=GOOD["secret"]), "iscsi_target_")
    assert same == ["iscsi_target_mutual_chap_password must differ from iscsi_target_chap_password (RFC 3720)"]
    assert GOOD["secret"] not in same[0]


def test_not_a_dict():
    assert chap_problems("secret") == ["expected a dict of CHAP credentials, got str"]
