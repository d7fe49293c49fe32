#!/usr/bin/python
# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tls_check
short_description: Check the certificate a TLS server presents, and optionally its HTTP redirect
description:
  - Connects to O(host):O(port) with SNI O(server_name) and reports the certificate the server
    presents (subject, SANs, issuer, validity, SHA-256 fingerprint), the negotiated protocol and
    cipher, whether the chain verifies against a CA bundle and whether the name matches.
  - Unlike M(community.crypto.get_certificate), it checks the host name, applies a days-left
    threshold and runs in check mode (it never changes anything).
  - Fails when the certificate is expired, expires within O(min_days), is untrusted, does not
    match O(server_name), or was negotiated below TLS 1.2, unless O(fail_on_problem=false).
version_added: "1.0.0"
author: Beacon contributors
options:
  host:
    description: Address to connect to (a name or an IP address).
    type: str
    required: true
  port:
    description: TLS port.
    type: int
    default: 443
  server_name:
    description:
      - Name sent as SNI and checked against the certificate. Defaults to O(host).
      - Lets you test a site through C(127.0.0.1) before DNS points at the host.
    type: str
  ca_path:
    description: PEM bundle to verify the chain against. Defaults to the system's trust store.
    type: path
  min_days:
    description: Report a problem when the certificate expires in fewer days than this.
    type: int
    default: 14
  min_protocol:
    description: Lowest acceptable negotiated protocol.
    type: str
    choices: [TLSv1.2, TLSv1.3]
    default: TLSv1.2
  check_redirect:
    description: Also check that C(http://server_name:http_port/) redirects to C(https://server_name).
    type: bool
    default: false
  http_port:
    description: Plain HTTP port for O(check_redirect).
    type: int
    default: 80
  path:
    description:
      - Also send C(GET path) over the verified connection (SNI and Host O(server_name)) and
        report the HTTP status, for checking a page such as C(/code/user/42/).
    type: str
  expected_status:
    description: HTTP statuses that count as success for O(path). By default any status below 500.
    type: list
    elements: int
  fail_on_problem:
    description: Fail when any problem is found. With V(false) the problems are only reported.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each connection.
    type: float
    default: 10
requirements:
  - cryptography
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: The site presents a trusted certificate for its name.
  tls_check:
    host: 127.0.0.1
    server_name: shlinx.test
    ca_path: .local/acme-root.pem
    check_redirect: true

- name: Report, without failing, how long production's certificate has left.
  tls_check:
    host: shlinx.com
    min_days: 21
    path:
    description:
      - Also send C(GET path) over the verified connection (SNI and Host O(server_name)) and
        report the HTTP status, for checking a page such as C(/code/user/42/).
    type: str
  expected_status:
    description: HTTP statuses that count as success for O(path). By default any status below 500.
    type: list
    elements: int
  fail_on_problem: false
  register: cert

- name: Wait until Traefik serves the ACME certificate instead of its default one.
  tls_check:
    host: 127.0.0.1
    server_name: shlinx.test
    ca_path: .local/acme-root.pem
  register: cert
  until: cert is succeeded
  retries: 60
  delay: 1
"""

RETURN = r"""
subject:
  description: Subject of the server certificate, as an RFC 4514 string.
  returned: success
  type: str
  sample: CN=shlinx.test
sans:
  description: DNS names and IP addresses in the subjectAltName extension.
  returned: success
  type: list
  elements: str
  sample: [shlinx.test]
issuer:
  description: Issuer of the server certificate, as an RFC 4514 string.
  returned: success
  type: str
  sample: CN=Pebble Intermediate CA 3f0c1e
not_before:
  description: Start of validity, ISO 8601 UTC.
  returned: success
  type: str
not_after:
  description: End of validity, ISO 8601 UTC.
  returned: success
  type: str
days_left:
  description: Whole days until O(not_after); negative once expired.
  returned: success
  type: int
fingerprint_sha256:
  description: SHA-256 fingerprint of the certificate, colon-separated hex.
  returned: success
  type: str
protocol:
  description: Negotiated TLS protocol.
  returned: success
  type: str
  sample: TLSv1.3
cipher:
  description: Negotiated cipher suite.
  returned: success
  type: str
trusted:
  description: Whether the chain verifies against O(ca_path) or the system store.
  returned: success
  type: bool
verify_error:
  description: Why the chain did not verify, when it did not.
  returned: success
  type: str
hostname_matches:
  description: Whether O(server_name) matches the certificate's names.
  returned: success
  type: bool
redirect:
  description: Result of the HTTP redirect check.
  returned: when O(check_redirect=true)
  type: dict
  sample: {status: 308, location: "https://shlinx.test/", ok: true}
http_status:
  description: HTTP status of C(GET path).
  returned: when O(path) is given
  type: int
  sample: 200
problems:
  description: Every problem found; empty when all checks pass.
  returned: always
  type: list
  elements: str
"""

import datetime
import http.client
import ipaddress
import socket
import ssl
import traceback
import urllib.parse

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_ERROR = None

PROTOCOL_ORDER = {"TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}


def name_matches(server_name: str, dns_names: list[str], ip_addresses: list[str]) -> bool:
    """RFC 6125 matching: exact names, or one left-most wildcard label; IPs match exactly."""
    try:
        wanted_ip = ipaddress.ip_address(server_name)
    except ValueError:
        wanted_ip = None
    if wanted_ip is not None:
        return any(ipaddress.ip_address(ip) == wanted_ip for ip in ip_addresses)
    host = server_name.lower().rstrip(".")
    for pattern in (name.lower().rstrip(".") for name in dns_names):
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if label and rest == pattern[2:] and rest.count(".") >= 1:
                return True
    return False


def days_between(now: datetime.datetime, not_after: datetime.datetime) -> int:
    return (not_after - now) // datetime.timedelta(days=1)


def fingerprint(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return ":".join(f"{b:02X}" for b in digest.finalize())


def status_ok(status: int, expected: list[int] | None) -> bool:
    return status in expected if expected else status < 500


def find_problems(report: dict, server_name: str, min_days: int, min_protocol: str) -> list[str]:
    problems = []
    if report["days_left"] < 0:
        problems.append(f"the certificate expired on {report['not_after']}")
    elif report["days_left"] < min_days:
        left, until = report["days_left"], report["not_after"]
        problems.append(f"the certificate expires in {left} days (on {until}), under min_days={min_days}")
    if not report["trusted"]:
        problems.append(f"the chain is not trusted: {report['verify_error']}")
    if not report["hostname_matches"]:
        names = ", ".join(report["sans"]) or report["subject"]
        problems.append(f"the certificate does not match {server_name} (its names: {names})")
    if PROTOCOL_ORDER.get(report["protocol"], 0) < PROTOCOL_ORDER[min_protocol]:
        problems.append(f"negotiated {report['protocol']}, below {min_protocol}")
    if "http_status" in report and not report["http_ok"]:
        problems.append(f"GET {report['path']} answered HTTP {report['http_status']}")
    redirect = report.get("redirect")
    if redirect is not None and not redirect["ok"]:
        problems.append(f"http:// does not redirect to https://{server_name}: {redirect['detail']}")
    return problems


class TLSChecker:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.server_name = self.params["server_name"] or self.params["host"]

    def _connect(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection((self.params["host"], self.params["port"]), timeout=self.params["timeout"])
        sni = self.server_name
        try:
            ipaddress.ip_address(sni)
            sni = None
        except ValueError:
            pass
        try:
            return context.wrap_socket(raw, server_hostname=sni)
        except BaseException:
            raw.close()
            raise

    def presented(self) -> tuple[bytes, str, str]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with self._connect(context) as conn:
            return conn.getpeercert(binary_form=True), conn.version(), conn.cipher()[0]

    def verification(self) -> str | None:
        context = ssl.create_default_context(cafile=self.params["ca_path"])
        context.check_hostname = False
        try:
            with self._connect(context):
                return None
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_message or str(exc)

    def fetch(self, path: str) -> int:
        """GET path over TLS (verified when the chain is trusted) and return the status."""
        context = ssl.create_default_context(cafile=self.params["ca_path"])
        context.check_hostname = False
        try:
            tls = self._connect(context)
        except ssl.SSLCertVerificationError:
            unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
            tls = self._connect(unverified)
        conn = http.client.HTTPSConnection(self.server_name, self.params["port"], timeout=self.params["timeout"])
        conn.sock = tls
        try:
            conn.request("GET", path, headers={"Host": self.server_name})
            return conn.getresponse().status
        finally:
            conn.close()

    def redirect(self) -> dict:
        conn = http.client.HTTPConnection(self.params["host"], self.params["http_port"], timeout=self.params["timeout"])
        try:
            conn.request("GET", "/", headers={"Host": self.server_name})
            response = conn.getresponse()
            location = response.getheader("Location", "")
        except OSError as exc:
            return {"status": None, "location": None, "ok": False, "detail": str(exc)}
        finally:
            conn.close()
        ok = response.status in (301, 302, 307, 308) and self._is_https_to_server_name(location)
        detail = "" if ok else f"got HTTP {response.status} with Location {location!r}"
        return {"status": response.status, "location": location, "ok": ok, "detail": detail}

    def _is_https_to_server_name(self, location: str) -> bool:
        """Whether Location is an https:// URL whose host (any port) is server_name, not just starts with it."""
        try:
            target = urllib.parse.urlsplit(location)
            hostname = target.hostname
        except ValueError:
            return False
        return target.scheme == "https" and (hostname or "").rstrip(".") == self.server_name.lower().rstrip(".")

    def run(self) -> dict:
        try:
            der, protocol, cipher = self.presented()
            verify_error = self.verification()
        except (OSError, ssl.SSLError) as exc:
            address = f"{self.params['host']}:{self.params['port']}"
            self.module.fail_json(
                msg=f"Could not complete a TLS handshake with {address} (SNI {self.server_name}): {exc}",
                problems=[str(exc)],
            )
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = san.get_values_for_type(x509.DNSName)
            ip_addresses = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            dns_names, ip_addresses = [], []
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        report = {
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "sans": dns_names + ip_addresses,
            "not_before": not_before.isoformat(),
            "not_after": not_after.isoformat(),
            "days_left": days_between(datetime.datetime.now(datetime.UTC), not_after),
            "fingerprint_sha256": fingerprint(der),
            "protocol": protocol,
            "cipher": cipher,
            "trusted": verify_error is None,
            "verify_error": verify_error or "",
            "hostname_matches": name_matches(self.server_name, dns_names, ip_addresses),
        }
        if self.params["path"]:
            try:
                report["http_status"] = self.fetch(self.params["path"])
            except (OSError, http.client.HTTPException) as exc:
                self.module.fail_json(msg=f"GET {self.params['path']} over TLS failed: {exc}", **report)
            report["path"] = self.params["path"]
            report["http_ok"] = status_ok(report["http_status"], self.params["expected_status"])
        if self.params["check_redirect"]:
            report["redirect"] = self.redirect()
        report["problems"] = find_problems(
            report, self.server_name, self.params["min_days"], self.params["min_protocol"]
        )
        return report


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=443),
            server_name=dict(type="str"),
            ca_path=dict(type="path"),
            min_days=dict(type="int", default=14),
            min_protocol=dict(type="str", default="TLSv1.2", choices=["TLSv1.2", "TLSv1.3"]),
            check_redirect=dict(type="bool", default=False),
            http_port=dict(type="int", default=80),
            path=dict(type="str"),
            expected_status=dict(type="list", elements="int"),
            fail_on_problem=dict(type="bool", default=True),
            timeout=dict(type="float", default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_ERROR)
    report = TLSChecker(module).run()
    if report["problems"] and module.params["fail_on_problem"]:
        module.fail_json(msg="TLS check failed: " + "; ".join(report["problems"]), changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
