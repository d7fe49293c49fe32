"""Debian's headless Chromium, driven by Selenium, that trusts a given CA the way a user's browser would.

Nothing is downloaded: the browser is /usr/bin/chromium and the driver /usr/bin/chromedriver
(Debian packages ``chromium`` and ``chromium-driver``). The CA goes into an NSS database under a
temporary ``$HOME`` (``certutil`` from ``libnss3-tools``), which is where Chromium on Linux looks for
locally trusted roots; no flag that weakens certificate checks is used. The platform's domain is
mapped to loopback with ``--host-resolver-rules``, so /etc/hosts stays untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CERTUTIL = "certutil"
NSS_NICKNAME = "beacon-acme-root"

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


def missing_tools() -> list[str]:
    """What is missing to run the browser; empty when everything is installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if shutil.which(CERTUTIL) is None:
        missing.append(CERTUTIL)
    return missing


def make_nss_db(home: Path, ca_file: str) -> None:
    """An NSS database in ``home/.pki/nssdb`` that trusts ``ca_file`` to issue server certificates."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    subprocess.run([CERTUTIL, "-d", db, "-N", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        [CERTUTIL, "-d", db, "-A", "-t", "C,,", "-n", NSS_NICKNAME, "-i", ca_file], check=True, capture_output=True
    )
    listing = subprocess.run([CERTUTIL, "-d", db, "-L"], check=True, capture_output=True, text=True).stdout
    assert NSS_NICKNAME in listing, listing


@dataclass
class DocumentResponse:
    """A top-level page load as Chromium's network stack saw it (from the DevTools performance log)."""

    url: str
    status: int
    security_state: str
    security_details: dict = field(default_factory=dict)


@dataclass
class WebSocketRecord:
    """One WebSocket the page opened: its URL, the handshake's status, how it ended (if it did)."""

    url: str
    status: int | None = None
    closed: bool = False
    errors: list[str] = field(default_factory=list)


class Browser:
    """A Selenium driver plus the page loads and WebSockets it has made, from the DevTools performance log."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.documents: list[DocumentResponse] = []
        self.websockets: dict[str, WebSocketRecord] = {}

    def _websocket_event(self, method: str, params: dict) -> None:
        if method == "Network.webSocketCreated":
            self.websockets[params["requestId"]] = WebSocketRecord(url=params["url"])
            return
        record = self.websockets.get(params.get("requestId", ""))
        if record is None:
            return
        if method == "Network.webSocketHandshakeResponseReceived":
            record.status = params["response"]["status"]
        elif method == "Network.webSocketClosed":
            record.closed = True
        elif method == "Network.webSocketFrameError":
            record.errors.append(params.get("errorMessage", ""))

    def collect(self) -> list[DocumentResponse]:
        """Every top-level document response so far (the performance log is drained on each read)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method = message.get("method", "")
            if method.startswith("Network.webSocket"):
                self._websocket_event(method, message["params"])
                continue
            if method != "Network.responseReceived" or message["params"].get("type") != "Document":
                continue
            response = message["params"]["response"]
            self.documents.append(
                DocumentResponse(
                    url=response["url"],
                    status=response["status"],
                    security_state=response.get("securityState", ""),
                    security_details=response.get("securityDetails") or {},
                )
            )
        return self.documents

    def websockets_to(self, prefix: str) -> list[WebSocketRecord]:
        """The WebSockets opened so far whose URL starts with ``prefix``."""
        self.collect()
        return [record for record in self.websockets.values() if record.url.startswith(prefix)]

    def last_document(self, url: str) -> DocumentResponse:
        matches = [doc for doc in self.collect() if doc.url == url]
        assert matches, f"no page load of {url} in {[doc.url for doc in self.documents]}"
        return matches[-1]


@contextlib.contextmanager
def chromium(domain: str, ca_file: str | None, address: str = "127.0.0.1") -> Iterator[Browser]:
    """A fresh headless Chromium with its own profile and HOME; trusts ``ca_file`` if given.

    Everything temporary (HOME, NSS database, profile) is removed and the driver quit on exit.
    """
    home = Path(tempfile.mkdtemp(prefix="beacon-browser-"))
    driver = None
    try:
        if ca_file:
            make_nss_db(home, ca_file)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={home / 'profile'}", f"--host-resolver-rules=MAP {domain} {address}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        # HOME reaches chromium through chromedriver: that is where it finds ~/.pki/nssdb.
        env = {**os.environ, "HOME": str(home)}
        service = Service(executable_path=CHROMEDRIVER, env=env, log_output=str(home / "chromedriver.log"))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(30)
        yield Browser(driver)
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(home, ignore_errors=True)
