"""A real browser on the deployed stack: Debian's headless Chromium signs in and uses the real code-server.

The browser trusts the Pebble-issued certificate only because the ACME root is in its NSS database
(no flag that skips certificate checks); the second test shows that without that root the site is refused.
Screenshots are kept in artifacts/browser/ (git-ignored) for CI to archive.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import beacon_ansible
import beacon_browser
import beacon_http
import docker
import pytest
from conftest import DOMAIN
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
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


def workbench_url(user_id: str) -> str:
    """Where code-server's relative redirect lands: the workbench on the home folder (the volume)."""
    return f"{editor_url(user_id)}?folder=/home/coder"


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


def sign_in(browser: beacon_browser.Browser, user: str, password: str) -> None:
    driver = browser.driver
    user_id = wait_for(browser, "the sign-in form", lambda: visible_and_enabled(browser, "user-id"))
    user_id.send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(browser, "the Open Code Editor button", lambda: visible_and_enabled(browser, "open-editor"))
    assert driver.find_element(By.ID, "signed-in-user").text == user


def displayed(browser: beacon_browser.Browser, selector: str):
    elements = [e for e in browser.driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]
    return elements[0] if elements else None


def explorer(browser: beacon_browser.Browser) -> str:
    """The names the workbench's explorer lists (it reads them from the server over the WebSocket)."""
    view = displayed(browser, ".explorer-folders-view")
    return view.text if view else ""


def trust_button(browser: beacon_browser.Browser):
    for button in browser.driver.find_elements(By.CSS_SELECTOR, ".monaco-dialog-box .monaco-button"):
        if button.is_displayed() and button.text.strip() == "Yes, I trust the authors":
            return button
    return None


def terminal_input(driver):
    """The integrated terminal's keyboard input (xterm's hidden textarea), once it has the focus."""
    active = driver.switch_to.active_element
    return active if "xterm-helper-textarea" in (active.get_attribute("class") or "") else None


def wait_for_workbench(browser: beacon_browser.Browser, user: str, timeout: float = 60) -> None:
    wait_for(
        browser,
        f"the VS Code workbench of user {user} with its explorer",
        lambda: browser.driver.current_url == workbench_url(user) and ".bashrc" in explorer(browser),
        timeout=timeout,
    )


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
            sign_in(browser, USER, demo_users[USER])
            wait_for(browser, "the editor status", lambda: driver.find_element(By.ID, "editor-status").text)
            driver.save_screenshot(str(artifacts / f"signed-in-user-{USER}.png"))

            step = "opening the editor"
            driver.find_element(By.ID, "open-editor").click()
            wait_for_workbench(browser, USER)
            editor = browser.last_document(workbench_url(USER))
            assert editor.status == 200
            assert_trusted_pebble_tls(editor)
            driver.save_screenshot(str(artifacts / f"editor-user-{USER}.png"))

            step = "another user's editor"
            driver.get(editor_url(OTHER_USER))
            refused = browser.last_document(editor_url(OTHER_USER))
            body = driver.find_element(By.TAG_NAME, "body").text
            assert refused.status == 403, (refused.status, body)
            assert "vscode-workbench-web-configuration" not in driver.page_source
            assert_trusted_pebble_tls(refused)
            driver.save_screenshot(str(artifacts / f"user-{USER}-refused-editor-{OTHER_USER}.png"))
        except BaseException:
            with contextlib.suppress(Exception):  # never hide the real failure
                driver.save_screenshot(str(artifacts / f"failure-{step.replace(' ', '-')}.png"))
            raise


def read_from_editor(path: str, cookie: str, acme_root: str) -> bytes:
    """A file of user 1's container, through Traefik and code-server's remote-resource route."""
    response = beacon_http.request(
        "GET",
        f"/code/user/{USER}/vscode-remote-resource?path={path}",
        domain=DOMAIN,
        ca_file=acme_root,
        headers={"Cookie": f"beacon_session={cookie}"},
    )
    assert response.status == 200, (response.status, response.body[:200])
    return response.body


def test_code_server_workbench_terminal_and_files_survive_a_recreation(acme_root, demo_users, artifacts):
    """The real code-server in Chromium: the workbench renders, its WebSocket holds, and a file
    written in the integrated terminal is still there after the container is recreated."""
    token = f"beacon-e2e-{secrets.token_hex(4)}"
    proof = f"{token}.txt"
    engine = docker.from_env()
    with beacon_browser.chromium(DOMAIN, acme_root) as browser:
        driver = browser.driver
        step = "opening the workbench"
        try:
            driver.get(SITE)
            sign_in(browser, USER, demo_users[USER])
            driver.get(editor_url(USER))
            wait_for_workbench(browser, USER)
            assert displayed(browser, ".monaco-workbench") is not None

            step = "the WebSocket"
            # The workbench talks to its server over a WebSocket under the user's path; code-server
            # accepts it only when Origin matches the host Traefik forwards (else 1006 in the page).
            sockets = wait_for(
                browser, "the workbench's WebSocket", lambda: browser.websockets_to(f"wss://{DOMAIN}/code/user/{USER}/")
            )
            assert [s.status for s in sockets] == [101] * len(sockets), sockets
            assert not [s for s in sockets if s.closed or s.errors], sockets
            assert "1006" not in driver.find_element(By.TAG_NAME, "body").text

            step = "trusting the folder"
            # A fresh browser profile is asked whether to trust the workspace (the home folder, on
            # the volume); until then the workbench runs in Restricted Mode.
            trust = wait_for(browser, "the workspace trust dialog", lambda: trust_button(browser), timeout=30)
            trust.click()
            wait_for(
                browser,
                "the workbench to leave Restricted Mode",
                lambda: displayed(browser, ".monaco-dialog-box") is None
                and "Restricted Mode" not in getattr(displayed(browser, ".part.statusbar"), "text", "Restricted Mode"),
            )

            step = "the integrated terminal"
            ActionChains(driver).key_down(Keys.CONTROL).send_keys("`").key_up(Keys.CONTROL).perform()
            wait_for(
                browser, "a bash terminal", lambda: "bash" in getattr(displayed(browser, ".part.panel"), "text", "")
            )
            screen = wait_for(browser, "the terminal", lambda: displayed(browser, ".terminal-wrapper .xterm-screen"))
            screen.click()
            keyboard = wait_for(browser, "the terminal to take the keyboard", lambda: terminal_input(driver))
            keyboard.send_keys(f"echo {token} > ~/{proof}\n")
            wait_for(browser, f"{proof} in the explorer", lambda: proof in explorer(browser), timeout=30)
            cookie = driver.get_cookie("beacon_session")["value"]
            assert read_from_editor(f"/home/coder/{proof}", cookie, acme_root).strip() == token.encode()
            driver.save_screenshot(str(artifacts / f"code-server-user-{USER}-terminal.png"))

            step = "recreating the container"
            before = engine.containers.get(f"code-server-user-{USER}")
            before.remove(force=True)
            run = beacon_ansible.playbook("provision_user.yml", "-e", f"user_id={USER}")
            assert run.rc == 0, run.stdout[-3000:]
            after = engine.containers.get(f"code-server-user-{USER}")
            assert after.id != before.id and after.status == "running"

            step = "reopening the workbench"
            driver.get(editor_url(USER))
            wait_for_workbench(browser, USER)
            wait_for(browser, f"{proof} in the explorer after the recreation", lambda: proof in explorer(browser))
            assert read_from_editor(f"/home/coder/{proof}", cookie, acme_root).strip() == token.encode()
            driver.save_screenshot(str(artifacts / f"code-server-user-{USER}-after-recreation.png"))
        except BaseException:
            with contextlib.suppress(Exception):  # never hide the real failure
                driver.save_screenshot(str(artifacts / f"failure-{step.replace(' ', '-')}.png"))
            raise
        finally:
            with contextlib.suppress(Exception):
                engine.containers.get(f"code-server-user-{USER}").exec_run(["rm", "-f", f"/home/coder/{proof}"])
            engine.close()


def test_without_the_acme_root_chromium_refuses_the_site(artifacts):
    """The control: the same browser without the root in its NSS database shows the interstitial."""
    with beacon_browser.chromium(DOMAIN, ca_file=None) as browser:
        driver = browser.driver
        driver.get(SITE)
        assert driver.title != APP_TITLE
        assert "ERR_CERT_AUTHORITY_INVALID" in driver.page_source
        assert not [doc for doc in browser.collect() if doc.url == SITE], "the app should not have been loaded"
        driver.save_screenshot(str(artifacts / "untrusted-interstitial.png"))
