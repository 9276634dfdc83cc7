"""Sign-in lockout (contract §4): after 10 failures for one username from one address within 15
minutes, or 50 from one address, further sign-ins for it from that address answer 429 with
Retry-After — even with the right password — on the web login page, the admin login and the
token endpoint, until the window has passed or an administrator unlocks it. Failures for one
username from many addresses brake it with growing delays, and never lock its owner out.

Given the demo organisations (password PASSWORD) and a superuser `root` for the admin; the clock
stands still unless a test moves it."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.test_web_support import text_of

WINDOW = 15 * 60
ADDRESS = "203.0.113.7"


class EntryPoint:
    """One way to sign in; `sign_in()` answers whether it worked, was refused, or locked out."""

    def __init__(self, name, path, ok_status, refused_status):
        self.name, self.path, self.ok_status, self.refused_status = name, path, ok_status, refused_status

    def sign_in(self, username, password, client=None, address=ADDRESS, **headers):
        if self.name == "api":
            client = client or APIClient()
            return client.post(
                self.path, {"username": username, "password": password}, format="json", REMOTE_ADDR=address, **headers
            )
        client = client or Client()
        return client.post(self.path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


WEB = EntryPoint("web", "/accounts/login/", 302, 200)
ADMIN = EntryPoint("admin", "/admin/login/?next=/admin/", 302, 200)
API = EntryPoint("api", "/api/auth/token/", 200, 400)
ENTRY_POINTS = {"web": WEB, "admin": ADMIN, "api": API}


@pytest.fixture
def people(world):
    get_user_model().objects.create_superuser("root", password=PASSWORD)


def fail(entry, username, times, address=ADDRESS):
    return [entry.sign_in(username, "wrong-password", address=address).status_code for _ in range(times)]


@pytest.mark.parametrize("entry_name", ENTRY_POINTS)
def test_ten_wrong_passwords_lock_the_username_even_against_the_right_one(people, clock, entry_name):
    entry = ENTRY_POINTS[entry_name]
    username = "root" if entry is ADMIN else "regulator"

    # Given ten wrong passwords, each refused as usual (the lockout comes *after* ten)
    assert fail(entry, username, 10) == [entry.refused_status] * 10
    # Then the right password is refused with 429 and the seconds left
    client = APIClient() if entry is API else Client()
    locked = entry.sign_in(username, PASSWORD, client=client)
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(WINDOW)
    if entry is API:
        assert locked.json()["code"] == "signin_locked" and locked.json()["retry_after"] == WINDOW
        assert "token" not in locked.json()
        assert "15 分钟后再试" in locked.json()["detail"]
    else:
        # the page says so in words, in Chinese, with the minutes left, and nobody is signed in
        assert "登录失败次数过多" in text_of(locked) and "15 分钟后再试" in text_of(locked)
        assert "_auth_user_id" not in client.session
        # the form is there again, with the username kept
        assert f'value="{username}"' in locked.content.decode()


def test_the_count_is_shared_by_the_page_the_admin_and_the_api(people, clock):
    fail(WEB, "regulator", 4)
    fail(API, "regulator", 4)
    fail(ADMIN, "regulator", 2)

    assert API.sign_in("regulator", PASSWORD).status_code == 429
    assert WEB.sign_in("regulator", PASSWORD).status_code == 429


def test_the_lockout_is_for_that_username_from_that_address_only(people, clock):
    fail(API, "regulator", 10)

    assert API.sign_in("reviewer-a", PASSWORD).status_code == 200
    assert API.sign_in("regulator", PASSWORD).status_code == 429
    # the owner at another address is not locked out by someone else's guesses
    assert API.sign_in("regulator", PASSWORD, address="198.51.100.9").status_code == 200


def test_fifty_failures_from_one_address_lock_every_username_from_it(people, clock):
    # Given 49 wrong guesses from one address, spread over many usernames (none reaches its own limit)
    for n in range(49):
        assert API.sign_in(f"guess-{n % 7}", "wrong-password").status_code == 400
    # a right password from that address still works
    assert API.sign_in("merchant-a1", PASSWORD).status_code == 200
    # When the fiftieth fails (answered as a wrong password)
    assert API.sign_in("guess-0", "wrong-password").status_code == 400
    # Then no username signs in from that address, any more, on any entry point ...
    locked = API.sign_in("merchant-a2", PASSWORD)
    assert locked.status_code == 429 and locked["Retry-After"] == str(WINDOW)
    assert WEB.sign_in("reviewer-a", PASSWORD).status_code == 429
    # ... while other addresses are not affected
    assert API.sign_in("merchant-a2", PASSWORD, address="198.51.100.20").status_code == 200


def test_once_the_window_has_passed_signing_in_works_again(people, clock):
    fail(API, "regulator", 10)

    clock.shift(WINDOW - 60)
    almost = API.sign_in("regulator", PASSWORD)
    assert almost.status_code == 429 and almost["Retry-After"] == "60"
    assert "1 分钟后再试" in almost.json()["detail"]

    clock.shift(61)
    assert API.sign_in("regulator", PASSWORD).status_code == 200


def test_attempts_during_the_lockout_do_not_extend_it(people, clock):
    fail(API, "regulator", 10)
    clock.shift(10 * 60)

    assert fail(API, "regulator", 5) == [429] * 5
    clock.shift(5 * 60 + 1)

    assert API.sign_in("regulator", PASSWORD).status_code == 200


def test_the_window_counts_from_the_failures_that_caused_the_lockout(people, clock):
    # Five failures, then five more ten minutes later: the lockout lasts until the newest five
    # plus enough older ones to make ten are out of the window.
    fail(API, "regulator", 5)
    clock.shift(10 * 60)
    fail(API, "regulator", 5)

    locked = API.sign_in("regulator", PASSWORD)
    assert locked.status_code == 429 and locked["Retry-After"] == str(WINDOW)


def test_a_right_password_before_the_limit_forgets_no_failure(people, clock):
    # Given nine wrong passwords and then the right one
    fail(WEB, "regulator", 9)
    assert WEB.sign_in("regulator", PASSWORD).status_code == 302
    # When one more wrong password follows within the window
    assert WEB.sign_in("regulator", "wrong-password").status_code == 200
    # Then that was the tenth failure: the username is locked from that address
    assert WEB.sign_in("regulator", PASSWORD).status_code == 429


def test_an_administrator_unlocks_a_username(people, clock):
    fail(API, "regulator", 12)
    assert API.sign_in("regulator", PASSWORD).status_code == 429

    call_command("unlock_user", "regulator")

    assert API.sign_in("regulator", PASSWORD).status_code == 200


def test_axes_reset_ip_unlocks_an_address(people, clock):
    for n in range(50):
        API.sign_in(f"guess-{n}", "wrong-password")
    assert API.sign_in("merchant-a1", PASSWORD).status_code == 429

    call_command("axes_reset_ip", ADDRESS)

    assert API.sign_in("merchant-a1", PASSWORD).status_code == 200


def test_a_forged_forwarded_for_header_does_not_buy_new_attempts(people, clock):
    for n in range(50):
        API.sign_in(f"guess-{n}", "wrong-password", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    assert API.sign_in("merchant-a1", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429


def test_behind_our_own_proxy_the_forwarded_address_is_counted(people, clock, settings):
    settings.PUBLIC_VERIFY_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"
    for n in range(50):
        API.sign_in(f"guess-{n}", "wrong-password", address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.50")

    via_proxy = {"address": proxy}
    assert API.sign_in("merchant-a1", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.50", **via_proxy).status_code == 429
    assert API.sign_in("merchant-a1", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.51", **via_proxy).status_code == 200
    # a forwarded value that is no address is not stored; the proxy's own address counts instead
    assert API.sign_in("merchant-a1", "wrong-password", HTTP_X_FORWARDED_FOR="<script>", **via_proxy).status_code == 400


def test_failures_and_the_lockout_are_logged(people, clock, caplog):
    with caplog.at_level(logging.INFO, logger="axes"):
        fail(API, "regulator", 10)

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("login failure" in line and "regulator" in line and ADDRESS in line for line in warnings)
    assert any("Locking out" in line and "regulator" in line for line in warnings)
    assert not any("wrong-password" in record.getMessage() for record in caplog.records)


def attackers(n):
    return [f"198.18.{i // 200}.{i % 200 + 1}" for i in range(n)]


def test_a_forty_address_attack_on_one_username_brakes_it_and_never_locks_its_owner_out(people, clock):
    # Given 40 addresses guessing one username, three times each (120 failures, none of them
    # reaching the per-address limits)
    answers = []
    for address in attackers(40):
        answers += fail(API, "regulator", 3, address=address)
    # Then the guesses after the brake started were slowed: most answered 429 without checking
    assert answers.count(400) >= 10 and answers.count(429) > 0
    # and an address that failed for it waits, the longer the more failures there were
    braked = API.sign_in("regulator", "wrong-password", address=attackers(1)[0])
    assert braked.status_code == 429
    assert 1 <= int(braked["Retry-After"]) <= 300
    # The owner, at an address of their own that never failed, signs in at once with the right password
    assert API.sign_in("regulator", PASSWORD, address="192.0.2.77").status_code == 200


def test_the_brake_grows_with_each_failure_and_ends_by_itself(people, clock):
    for address in attackers(10):  # ten failures from ten addresses: the brake begins
        assert fail(API, "regulator", 1, address=address) == [400]
    first = API.sign_in("regulator", "wrong-password", address=attackers(1)[0])
    assert first.status_code == 429 and first["Retry-After"] == "1"
    # a new address gets its one attempt; the failures now count 11, so the wait doubles
    assert fail(API, "regulator", 1, address="198.18.9.1") == [400]
    second = API.sign_in("regulator", "wrong-password", address=attackers(1)[0])
    assert second.status_code == 429 and second["Retry-After"] == "2"
    # after the wait, that address may try again (and is refused as a wrong password)
    clock.shift(2)
    assert fail(API, "regulator", 1, address=attackers(1)[0]) == [400]
    # the owner with the right password from a fresh address is never braked
    assert API.sign_in("regulator", PASSWORD, address="192.0.2.77").status_code == 200
