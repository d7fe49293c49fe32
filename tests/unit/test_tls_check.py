"""Unit tests of library/tls_check.py: the pure helpers, then TLSChecker against a real local TLS server."""

from __future__ import annotations

import datetime
import http.server
import importlib.util
import ipaddress
import socket
import ssl
import sys
import threading

import pytest
from conftest import LIBRARY

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover
    pytest.skip("cryptography is required", allow_module_level=True)


def _load_tls_check():
    spec = importlib.util.spec_from_file_location("tls_check", LIBRARY / "tls_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tls_check"] = module
    spec.loader.exec_module(module)
    return module


tls_check = _load_tls_check()

UTC = datetime.UTC
NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


# --- name_matches -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_name", "dns_names", "expected"),
    [
        ("shlinx.test", ["shlinx.test"], True),
        ("shlinx.test", ["other.test", "shlinx.test"], True),
        ("SHLINX.Test", ["shlinx.test"], True),
        ("shlinx.test", ["Shlinx.TEST"], True),
        ("shlinx.test.", ["shlinx.test"], True),
        ("shlinx.test", ["shlinx.test."], True),
        ("other.test", ["shlinx.test"], False),
        ("shlinx.test", [], False),
        ("www.shlinx.test", ["shlinx.test"], False),
        ("shlinx.test", ["www.shlinx.test"], False),
        ("x.a.com", ["*.a.com"], True),
        ("X.A.COM", ["*.a.com"], True),
        ("a.com", ["*.a.com"], False),
        ("y.x.a.com", ["*.a.com"], False),
        (".a.com", ["*.a.com"], False),
        ("x.com", ["*.com"], False),
        ("x.b.com", ["*.a.com"], False),
        ("xa.com", ["*.a.com"], False),
    ],
)
def test_name_matches_dns(server_name, dns_names, expected):
    assert tls_check.name_matches(server_name, dns_names, []) is expected


@pytest.mark.parametrize(
    ("server_name", "ip_addresses", "expected"),
    [
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["10.0.0.1", "127.0.0.1"], True),
        ("127.0.0.1", ["127.0.0.2"], False),
        ("127.0.0.1", [], False),
        ("::1", ["::1"], True),
        ("::1", ["0:0:0:0:0:0:0:1"], True),
        ("::1", ["127.0.0.1"], False),
    ],
)
def test_name_matches_ip(server_name, ip_addresses, expected):
    assert tls_check.name_matches(server_name, [], ip_addresses) is expected


def test_ip_server_name_never_matches_dns_names():
    assert tls_check.name_matches("127.0.0.1", ["127.0.0.1", "*.0.0.1", "localhost"], []) is False
    assert tls_check.name_matches("::1", ["::1"], []) is False


def test_dns_server_name_never_matches_ip_sans():
    assert tls_check.name_matches("localhost", [], ["127.0.0.1"]) is False


# --- days_between -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (datetime.timedelta(days=30), 30),
        (datetime.timedelta(days=30, hours=23), 30),
        (datetime.timedelta(days=1), 1),
        (datetime.timedelta(hours=23, minutes=59), 0),
        (datetime.timedelta(seconds=1), 0),
        (datetime.timedelta(0), 0),
        (datetime.timedelta(seconds=-1), -1),
        (datetime.timedelta(days=-1), -1),
        (datetime.timedelta(days=-1, seconds=-1), -2),
        (datetime.timedelta(days=-400), -400),
    ],
)
def test_days_between(delta, expected):
    assert tls_check.days_between(NOW, NOW + delta) == expected


def test_days_between_is_an_int():
    assert isinstance(tls_check.days_between(NOW, NOW + datetime.timedelta(days=3, hours=5)), int)


# --- find_problems ----------------------------------------------------------------------


def clean_report(**changes):
    report = {
        "subject": "CN=shlinx.test",
        "issuer": "CN=Test CA",
        "sans": ["shlinx.test"],
        "not_before": "2025-12-01T00:00:00+00:00",
        "not_after": "2026-03-01T00:00:00+00:00",
        "days_left": 60,
        "protocol": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "trusted": True,
        "verify_error": "",
        "hostname_matches": True,
    }
    report.update(changes)
    return report


def problems_of(report, *, server_name="shlinx.test", min_days=14, min_protocol="TLSv1.2"):
    return tls_check.find_problems(report, server_name, min_days, min_protocol)


def test_clean_report_has_no_problems():
    assert problems_of(clean_report()) == []
    assert problems_of(clean_report(protocol="TLSv1.2")) == []
    assert problems_of(clean_report(redirect={"status": 308, "location": "https://shlinx.test/", "ok": True})) == []


def test_expired():
    problems = problems_of(clean_report(days_left=-3, not_after="2025-12-29T00:00:00+00:00"))
    assert len(problems) == 1
    assert "expired" in problems[0]
    assert "2025-12-29T00:00:00+00:00" in problems[0]


@pytest.mark.parametrize("days_left", [0, 1, 13])
def test_under_min_days(days_left):
    problems = problems_of(clean_report(days_left=days_left), min_days=14)
    assert len(problems) == 1
    assert f"expires in {days_left} days" in problems[0]
    assert "min_days=14" in problems[0]


def test_exactly_min_days_is_fine():
    assert problems_of(clean_report(days_left=14), min_days=14) == []


def test_untrusted():
    problems = problems_of(clean_report(trusted=False, verify_error="self-signed certificate"))
    assert len(problems) == 1
    assert "not trusted" in problems[0]
    assert "self-signed certificate" in problems[0]


def test_mismatch_lists_the_names():
    problems = problems_of(clean_report(hostname_matches=False), server_name="other.test")
    assert len(problems) == 1
    assert "does not match other.test" in problems[0]
    assert "shlinx.test" in problems[0]


def test_mismatch_without_sans_shows_the_subject():
    problems = problems_of(clean_report(hostname_matches=False, sans=[], subject="CN=TRAEFIK DEFAULT CERT"))
    assert "CN=TRAEFIK DEFAULT CERT" in problems[0]


@pytest.mark.parametrize(
    ("protocol", "min_protocol"),
    [
        ("TLSv1.1", "TLSv1.2"),
        ("TLSv1", "TLSv1.2"),
        ("TLSv1.2", "TLSv1.3"),
        ("SSLv3", "TLSv1.2"),
        (None, "TLSv1.2"),
    ],
)
def test_protocol_below_min(protocol, min_protocol):
    problems = problems_of(clean_report(protocol=protocol), min_protocol=min_protocol)
    assert len(problems) == 1
    assert f"below {min_protocol}" in problems[0]


def test_tls13_meets_tls13():
    assert problems_of(clean_report(protocol="TLSv1.3"), min_protocol="TLSv1.3") == []


def test_failed_redirect():
    redirect = {
        "status": 200,
        "location": "",
        "ok": False,
        "detail": "got HTTP 200 with Location ''",
    }
    problems = problems_of(clean_report(redirect=redirect))
    assert len(problems) == 1
    assert "does not redirect to https://shlinx.test" in problems[0]
    assert "got HTTP 200" in problems[0]


def test_every_problem_is_reported():
    report = clean_report(
        days_left=-1,
        trusted=False,
        verify_error="unable to get local issuer certificate",
        hostname_matches=False,
        protocol="TLSv1.1",
        redirect={
            "status": None,
            "location": None,
            "ok": False,
            "detail": "Connection refused",
        },
    )
    problems = problems_of(report)
    assert len(problems) == 5
    assert all(isinstance(problem, str) and problem for problem in problems)


# --- a real TLS server on 127.0.0.1 -----------------------------------------------------


class FailJsonError(Exception):
    def __init__(self, kwargs):
        super().__init__(kwargs.get("msg"))
        self.kwargs = kwargs


class FakeModule:
    """The two attributes of AnsibleModule that TLSChecker uses."""

    def __init__(self, **params):
        self.params = {
            "host": "127.0.0.1",
            "port": 443,
            "server_name": None,
            "ca_path": None,
            "min_days": 14,
            "min_protocol": "TLSv1.2",
            "check_redirect": False,
            "http_port": 80,
            "path": None,
            "expected_status": None,
            "fail_on_problem": True,
            "timeout": 5.0,
        }
        self.params.update(params)

    def fail_json(self, **kwargs):
        raise FailJsonError(kwargs)


def _write_key(path, key):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Pki:
    """A CA and a leaf certificate for shlinx.test, as PEM files under a directory."""

    CA_CN = "Beacon Unit Test Root CA"

    def __init__(self, directory, *, not_before, not_after, dns_names=("shlinx.test",)):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.CA_CN)])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime.now(UTC) - datetime.timedelta(days=1))
            .not_valid_after(datetime.datetime.now(UTC) + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_path = directory / "ca.pem"
        self.cert_path = directory / "leaf.pem"
        self.key_path = directory / "leaf-key.pem"
        self.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.key_path, leaf_key)
        self.leaf = leaf_cert


class TLSServer:
    """Accepts connections on 127.0.0.1, completes a TLS handshake, then waits for the client to close."""

    def __init__(self, cert_path, key_path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.context.sni_callback = self._record_sni
        self.server_names = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="tls-test-server", daemon=True)
        self.thread.start()

    def _record_sni(self, _sslsock, server_name, _context):
        self.server_names.append(server_name)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass  # the client rejected the certificate, or closed without close_notify
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self.sock.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def pki(tmp_path):
    now = datetime.datetime.now(UTC)
    # An hour beyond 30 days, so the whole-day count is 30 however long the test takes.
    return Pki(
        tmp_path,
        not_before=now - datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=30, hours=1),
    )


@pytest.fixture
def start_tls_server():
    servers = []

    def start(pki):
        server = TLSServer(pki.cert_path, pki.key_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def tls_server(pki, start_tls_server):
    return start_tls_server(pki)


def check(**params):
    return tls_check.TLSChecker(FakeModule(**params)).run()


def test_trusted_with_ca_and_matching_name(pki, tls_server):
    report = check(port=tls_server.port, server_name="shlinx.test", ca_path=str(pki.ca_path))
    assert report["trusted"] is True
    assert report["verify_error"] == ""
    assert report["hostname_matches"] is True
    assert report["problems"] == []
    assert report["subject"] == "CN=shlinx.test"
    assert report["sans"] == ["shlinx.test"]
    assert f"CN={Pki.CA_CN}" in report["issuer"]
    assert report["days_left"] == 30
    assert report["not_after"] == pki.leaf.not_valid_after_utc.isoformat()
    assert report["not_before"] == pki.leaf.not_valid_before_utc.isoformat()
    assert report["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert report["cipher"]
    expected_fp = pki.leaf.fingerprint(hashes.SHA256()).hex(":").upper()
    assert report["fingerprint_sha256"] == expected_fp
    assert "redirect" not in report
    assert tls_server.server_names == ["shlinx.test", "shlinx.test"]


def test_other_name_does_not_match(pki, tls_server):
    report = check(port=tls_server.port, server_name="other.test", ca_path=str(pki.ca_path))
    assert report["trusted"] is True
    assert report["hostname_matches"] is False
    assert len(report["problems"]) == 1
    assert "does not match other.test" in report["problems"][0]
    assert "other.test" in tls_server.server_names


def test_ip_host_without_server_name_sends_no_sni_and_does_not_match(pki, tls_server):
    report = check(port=tls_server.port, ca_path=str(pki.ca_path))
    assert report["trusted"] is True
    assert report["hostname_matches"] is False
    assert any("does not match 127.0.0.1" in problem for problem in report["problems"])
    assert tls_server.server_names == [None, None]


def test_untrusted_against_the_system_store(tls_server):
    report = check(port=tls_server.port, server_name="shlinx.test")
    assert report["trusted"] is False
    assert report["verify_error"]
    assert report["hostname_matches"] is True
    assert len(report["problems"]) == 1
    assert "not trusted" in report["problems"][0]


def test_untrusted_against_another_ca(tmp_path, pki, tls_server):
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = Pki(other_dir, not_before=NOW, not_after=NOW + datetime.timedelta(days=1))
    report = check(port=tls_server.port, server_name="shlinx.test", ca_path=str(other.ca_path))
    assert report["trusted"] is False
    assert any("not trusted" in problem for problem in report["problems"])


def test_min_days_above_days_left(pki, tls_server):
    report = check(
        port=tls_server.port,
        server_name="shlinx.test",
        ca_path=str(pki.ca_path),
        min_days=31,
    )
    assert report["days_left"] == 30
    assert report["problems"] == [
        f"the certificate expires in 30 days (on {report['not_after']}), under min_days=31",
    ]


def test_expired_certificate(tmp_path, start_tls_server):
    now = datetime.datetime.now(UTC)
    expired = Pki(
        tmp_path,
        not_before=now - datetime.timedelta(days=90),
        not_after=now - datetime.timedelta(days=2, hours=1),
    )
    server = start_tls_server(expired)
    report = check(port=server.port, server_name="shlinx.test", ca_path=str(expired.ca_path))
    assert report["days_left"] == -3
    assert report["trusted"] is False
    assert "expired" in report["verify_error"]
    assert any(problem.startswith("the certificate expired on") for problem in report["problems"])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_server_fails_the_module():
    with pytest.raises(FailJsonError) as excinfo:
        check(port=free_port(), server_name="shlinx.test", timeout=2.0)
    assert "Could not complete a TLS handshake with 127.0.0.1:" in excinfo.value.kwargs["msg"]
    assert "SNI shlinx.test" in excinfo.value.kwargs["msg"]
    assert excinfo.value.kwargs["problems"]


# --- the HTTP redirect check, against a real HTTP server on 127.0.0.1 -----------------------


@pytest.fixture
def http_server():
    """A local HTTP server whose answer to GET / the test sets; records the Host headers it saw."""
    state = {"status": 308, "location": "https://shlinx.test/", "hosts": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["hosts"].append(self.headers.get("Host"))
            self.send_response(state["status"])
            if state["location"] is not None:
                self.send_header("Location", state["location"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="http-test-server",
        daemon=True,
    )
    thread.start()
    state["port"] = server.server_address[1]
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def redirect_of(http_server, server_name="shlinx.test"):
    module = FakeModule(server_name=server_name, http_port=http_server["port"])
    return tls_check.TLSChecker(module).redirect()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize(
    "location",
    ["https://shlinx.test/", "https://shlinx.test", "https://shlinx.test:8443/"],
)
def test_redirect_ok(http_server, status, location):
    http_server.update(status=status, location=location)
    result = redirect_of(http_server)
    assert result == {"status": status, "location": location, "ok": True, "detail": ""}
    assert http_server["hosts"] == ["shlinx.test"]


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (200, None),
        (404, None),
        (308, "http://shlinx.test/"),
        (308, "https://other.test/"),
        (308, "/"),
        (308, "https://shlinx.test.evil.example/"),
        (308, "https://shlinx.testing/"),
        (308, "https://shlinx.test@evil.example/"),
    ],
)
def test_redirect_not_ok(http_server, status, location):
    http_server.update(status=status, location=location)
    result = redirect_of(http_server)
    assert result["ok"] is False
    assert result["status"] == status
    assert f"got HTTP {status}" in result["detail"]


def test_redirect_connection_refused():
    module = FakeModule(server_name="shlinx.test", http_port=free_port(), timeout=2.0)
    result = tls_check.TLSChecker(module).redirect()
    assert result["ok"] is False
    assert result["status"] is None
    assert result["detail"]


def test_run_with_check_redirect(pki, tls_server, http_server):
    http_server.update(status=200, location=None)
    report = check(
        port=tls_server.port,
        server_name="shlinx.test",
        ca_path=str(pki.ca_path),
        check_redirect=True,
        http_port=http_server["port"],
    )
    assert report["redirect"]["ok"] is False
    assert len(report["problems"]) == 1
    assert "does not redirect to https://shlinx.test" in report["problems"][0]


def test_ipaddress_module_agrees_on_loopback():
    # Guards the assumption the IP tests above rely on.
    assert ipaddress.ip_address("::1") == ipaddress.ip_address("0:0:0:0:0:0:0:1")
