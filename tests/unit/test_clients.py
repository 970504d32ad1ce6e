"""The clients' set-up shortcuts change cost, never content: botocore's models read through orjson, and loaded
without listing every service, equal its own reading; only a plain-HTTP provider endpoint skips loading the
trust store."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore
import httpx
import pytest
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.loaders import JSONFileLoader, Loader

from batchbridge import aws
from batchbridge.providers.http import make_client, tls_context

DATA = Path(botocore.__file__).parent / "data"
# every service the gateway or its tests create a client for
SERVICES = ["dynamodb", "s3", "sqs", "kms", "secretsmanager", "bedrock", "sts", "lambda"]


def model_files() -> list[Path]:
    files = [path for path in DATA.glob("*.json")]
    for service in SERVICES:
        files += sorted((DATA / service).glob("*/*.json*"))
    return files


def without_extension(path: Path) -> str:
    return str(path).removesuffix(".gz").removesuffix(".json")


@pytest.mark.parametrize("path", model_files(), ids=lambda path: str(path.relative_to(DATA)))
def test_orjson_reads_every_model_as_botocore_does(path: Path) -> None:
    assert aws.OrjsonFileLoader().load_file(without_extension(path)) == JSONFileLoader().load_file(
        without_extension(path)
    )


def test_a_missing_file_is_none_as_botocore_says() -> None:
    assert aws.OrjsonFileLoader().load_file(str(DATA / "no-such-model")) is None


def test_clients_made_by_the_gateway_read_models_through_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = aws.client("dynamodb", aws_access_key_id="k", aws_secret_access_key="s")
    assert botocore.loaders.Loader.FILE_LOADER_CLASS is aws.OrjsonFileLoader
    assert isinstance(boto3.DEFAULT_SESSION._loader, aws.ServiceLoader)  # type: ignore[union-attr]
    assert client.meta.service_model.operation_model("PutItem").http["method"] == "POST"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2"])
def test_the_service_loader_loads_what_botocore_loads(service: str, type_name: str) -> None:
    def load(loader: Loader, api_version: str | None = None) -> object:
        try:
            return loader.load_service_model(service, type_name, api_version)
        except (UnknownServiceError, DataNotFoundError) as error:
            return type(error)

    ours, botocores = aws.ServiceLoader(), Loader()
    assert load(ours) == load(botocores)
    oldest = botocores.list_api_versions(service, "service-2")[0]
    assert load(ours, oldest) == load(botocores, oldest)


def test_the_service_loader_names_known_services_for_an_unknown_one() -> None:
    with pytest.raises(UnknownServiceError) as unknown:
        aws.ServiceLoader().load_service_model("no-such-service", "service-2")
    assert "dynamodb" in str(unknown.value)


def test_an_https_endpoint_verifies_against_a_loaded_trust_store() -> None:
    context = tls_context("https://api.openai.com/v1")
    if isinstance(context, ssl.SSLContext):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0
    else:
        assert context is True  # httpx's own default: certifi, verified


def test_a_plain_http_endpoint_trusts_nothing_rather_than_everything() -> None:
    context = tls_context("http://127.0.0.1:8000/v1")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 answering 200, and the certificate it presents."""
    cert_path, key_path = self_signed(tmp_path)

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", cert_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_https_url_reached_from_a_plain_http_client_fails_closed(tls_server: tuple[str, Path]) -> None:
    url, cert_path = tls_server
    with make_client("http://127.0.0.1:9/v1", 5.0, None) as client, pytest.raises(httpx.ConnectError) as failed:
        client.get(url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failed.value)
    # the same server is reachable once its certificate is trusted: the failure above is verification, not
    # the server
    trusting = ssl.create_default_context(cafile=str(cert_path))
    with httpx.Client(verify=trusting) as client:
        assert client.get(url).status_code == 200


def test_quick_services_get_timeouts_that_fit_a_functions_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for service in ("dynamodb", "sqs", "kms"):
        config = aws.client(service).meta.config
        assert (config.connect_timeout, config.read_timeout) == (3, 10), service
        assert config.retries["mode"] == "standard"
    assert aws.client("s3").meta.config.read_timeout == 60  # large transfers keep botocore's
