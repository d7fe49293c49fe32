"""A real browser on the deployed stack: Debian's headless Chromium signs in and opens the editor.

The browser trusts the Pebble-issued certificate only because the ACME root is in its NSS database
(no flag that skips certificate checks); the second test shows that without that root the site is refused.
Screenshots are kept in artifacts/browser/ (git-ignored) for CI to archive.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import beacon_browser
import pytest
from conftest import DOMAIN
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.skipif(
    not os.access(beacon_browser.CHROMIUM, os.X_OK),
    reason=f"{beacon_browser.CHROMIUM} is missing: apt-get install chromium chromium-driver libnss3-tools",
)

SITE = f"https://{DOMAIN}/"
APP_TITLE = "Beacon: VS Code in the browser"
USER, OTHER_USER = "1", "2"


def editor_url(user_id: str) -> str:
    return f"{SITE}code/user/{user_id}/"


@pytest.fixture(scope="module")
def demo_users(project) -> dict[str, str]:
    records = json.loads((project / ".local" / "demo-users.json").read_text())
    return {r["user_id"]: r["password"] for r in records}


@pytest.fixture(scope="module")
def artifacts(project) -> Path:
    path = project / "artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for(browser: beacon_browser.Browser, what: str, condition: Callable[[], object], timeout: float = 15):
    """Wait until ``condition()`` is truthy; on timeout fail with where the page is and what it says."""
    driver = browser.driver
    try:
        # The page may be replaced between finding an element and reading it (the editor navigation).
        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=ignored).until(
            lambda _: condition()
        )
    except TimeoutException:
        messages = driver.find_elements(By.ID, "message")
        said = messages[0].text if messages else ""
        pytest.fail(f"timed out after {timeout}s waiting for {what}; at {driver.current_url!r}, message {said!r}")


def visible_and_enabled(browser: beacon_browser.Browser, element_id: str):
    elements = browser.driver.find_elements(By.ID, element_id)
    if elements and elements[0].is_displayed() and elements[0].is_enabled():
        return elements[0]
    return None


def assert_trusted_pebble_tls(document: beacon_browser.DocumentResponse) -> None:
    """Chromium itself judged the connection secure, for the domain's certificate issued by Pebble."""
    details = document.security_details
    assert document.security_state == "secure", (document.url, document.security_state, details)
    assert details.get("subjectName") == DOMAIN, details
    assert details.get("issuer", "").startswith("Pebble Intermediate CA"), details
    assert details.get("protocol", "").startswith("TLS 1."), details


def test_user_signs_in_and_opens_their_editor_over_trusted_https(acme_root, demo_users, artifacts):
    with beacon_browser.chromium(DOMAIN, acme_root) as browser:
        driver = browser.driver
        step = "sign-in page"
        try:
            # The sign-in page, with no certificate interstitial: the real app, served as secure.
            driver.get(SITE)
            assert driver.current_url == SITE
            assert driver.title == APP_TITLE, f"got {driver.title!r}: a certificate interstitial?"
            front = browser.last_document(SITE)
            assert front.status == 200
            assert_trusted_pebble_tls(front)

            step = "signing in"
            user_id = wait_for(browser, "the sign-in form", lambda: visible_and_enabled(browser, "user-id"))
            user_id.send_keys(USER)
            driver.find_element(By.ID, "password").send_keys(demo_users[USER])
            driver.find_element(By.ID, "sign-in").click()
            wait_for(browser, "the Open Code Editor button", lambda: visible_and_enabled(browser, "open-editor"))
            assert driver.find_element(By.ID, "signed-in-user").text == USER
            wait_for(browser, "the editor status", lambda: driver.find_element(By.ID, "editor-status").text)
            driver.save_screenshot(str(artifacts / f"signed-in-user-{USER}.png"))

            step = "opening the editor"
            driver.find_element(By.ID, "open-editor").click()
            wait_for(
                browser,
                f"the editor of user {USER}",
                lambda: driver.current_url == editor_url(USER)
                and f"stand-in for user {USER}" in driver.find_element(By.TAG_NAME, "body").text,
                timeout=60,
            )
            editor = browser.last_document(editor_url(USER))
            assert editor.status == 200
            assert_trusted_pebble_tls(editor)
            driver.save_screenshot(str(artifacts / f"editor-user-{USER}.png"))

            step = "another user's editor"
            driver.get(editor_url(OTHER_USER))
            refused = browser.last_document(editor_url(OTHER_USER))
            body = driver.find_element(By.TAG_NAME, "body").text
            assert refused.status == 403, (refused.status, body)
            assert f"stand-in for user {OTHER_USER}" not in driver.page_source
            assert_trusted_pebble_tls(refused)
            driver.save_screenshot(str(artifacts / f"user-{USER}-refused-editor-{OTHER_USER}.png"))
        except BaseException:
            with contextlib.suppress(Exception):  # never hide the real failure
                driver.save_screenshot(str(artifacts / f"failure-{step.replace(' ', '-')}.png"))
            raise


def test_without_the_acme_root_chromium_refuses_the_site(artifacts):
    """The control: the same browser without the root in its NSS database shows the interstitial."""
    with beacon_browser.chromium(DOMAIN, ca_file=None) as browser:
        driver = browser.driver
        driver.get(SITE)
        assert driver.title != APP_TITLE
        assert "ERR_CERT_AUTHORITY_INVALID" in driver.page_source
        assert not [doc for doc in browser.collect() if doc.url == SITE], "the app should not have been loaded"
        driver.save_screenshot(str(artifacts / "untrusted-interstitial.png"))
