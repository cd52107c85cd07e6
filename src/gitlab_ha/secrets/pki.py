"""Keys and certificates (`cryptography`): the self-signed pairs Omnibus generates at reconfigure and
keeps in gitlab-secrets.json (PostgreSQL's server.crt / server.key), and the Consul agent CA with its
server and client certificates (`consul tls ca create` / `consul tls cert create`), in memory."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitlab_ha.errors import InputError


def self_signed(
    common_name: str, *, organization: str = "GitLab", unit: str = "Database", days: int = 3650, bits: int = 4096
) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a self-signed certificate, as SecretsHelper.generate_keypair
    makes PostgreSQL's: /C=USA/O=GitLab/OU=Database/CN=PostgreSQL, valid ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


# -- the Consul agent CA and its certificates (`consul tls ca create` / `consul tls cert create`) --------

DAY = datetime.timedelta(days=1)
CERT_KINDS = ("server", "client", "cli")
CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _key_pem(key: CaKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def agent_ca(*, domain: str = "consul", days: int = 1825) -> tuple[str, str]:
    """(certificate PEM, key PEM) of a new agent CA, ECDSA P-256, as `consul tls ca create` makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Consul Agent CA {serial}")])
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - DAY)
        .not_valid_after(now + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def load_ca(cert_pem: bytes, key_pem: bytes, where: str) -> tuple[x509.Certificate, CaKey]:
    """A CA certificate and its key, checked: a CA, valid now, the key its own (ECDSA or RSA, unencrypted).
    InputError naming `where` otherwise; the message never quotes the key."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise InputError("is not a PEM certificate", where) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise InputError(
            "the CA key is encrypted; give it unencrypted (it is stored in the 0600 store)", where
        ) from None
    except ValueError:
        raise InputError("the CA key is not a PEM private key", where) from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError("the CA key is neither ECDSA nor RSA", where)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise InputError("is not a CA certificate (no basicConstraints CA:TRUE)", where)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise InputError("the key does not belong to this CA certificate", where)
    now = datetime.datetime.now(datetime.UTC)
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        raise InputError(
            f"the CA certificate is not valid now (valid until {cert.not_valid_after_utc:%Y-%m-%d})", where
        )
    return cert, key


def agent_cert(
    kind: str,
    ca_cert: x509.Certificate,
    ca_key: CaKey,
    *,
    datacenter: str,
    domain: str = "consul",
    days: int = 365,
    dns_names: list[str] | None = None,
    ip_addresses: list[str] | None = None,
    node: str = "",
) -> tuple[str, str]:
    """(certificate PEM, key PEM) for a `server`, `client` or `cli`, signed by the CA, with the names
    `consul tls cert create` gives: `<kind>.<dc>.<domain>`, `localhost`, 127.0.0.1 (plus the extra ones)."""
    if kind not in CERT_KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}")
    names = [f"{kind}.{datacenter}.{domain}"]
    if kind == "server" and node:
        names.append(f"{node}.server.{datacenter}.{domain}")
    names += ["localhost", *(dns_names or [])]
    ips = [ipaddress.ip_address("127.0.0.1"), *(ipaddress.ip_address(a) for a in ip_addresses or [])]
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if kind in ("server", "client"):  # clients serve HTTPS too
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(min(now + days * DAY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([*(x509.DNSName(n) for n in names), *(x509.IPAddress(i) for i in ips)]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def dns_names(cert_pem: str) -> list[str]:
    """The DNS names a certificate is valid for (its subjectAltName)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.DNSName))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
