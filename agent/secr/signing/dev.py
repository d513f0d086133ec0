"""The ``dev`` signer: a real CMS envelope over a locally generated key. Test mode, emulator only."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.secr.errors import SignerError
from agent.secr.signing.cms import sign_attached, subject_key_id
from agent.secr.signing.secret_file import write_secret


def _new_identity(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


class DevSigner:
    """Key and self-signed certificate in one PEM file, created (mode 0600) on first use."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self._certificate = certificate
        self._skid = subject_key_id(certificate)
        cn = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        self._name = str(cn[0].value) if cn else "dev signer"

    @classmethod
    def generate(cls, common_name: str = "fiscal-box dev signer") -> DevSigner:
        return cls(*_new_identity(common_name))

    @classmethod
    def from_file(
        cls, key_file: str | os.PathLike[str], common_name: str = "fiscal-box dev signer"
    ) -> DevSigner:
        path = Path(key_file)
        if not path.exists():
            key, cert = _new_identity(common_name)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ) + cert.public_bytes(serialization.Encoding.PEM)
            write_secret(path, pem)
            return cls(key, cert)
        try:
            data = path.read_bytes()
            loaded = serialization.load_pem_private_key(data, password=None)
            cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----") :])
        except (OSError, ValueError) as exc:
            raise SignerError(
                f"cannot load the dev signing key from {path}: {exc}",
                what_to_do="delete the file to have a new dev key created, or fix signer.key_file",
            ) from exc
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise SignerError(f"{path}: the dev signer needs an EC key", what_to_do="delete the file")
        return cls(loaded, cert)

    @property
    def subject_key_id(self) -> str:
        return self._skid

    @property
    def subject_name(self) -> str:
        return self._name

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def sign(self, data: bytes) -> bytes:
        return sign_attached(data, self._key, self._certificate)
