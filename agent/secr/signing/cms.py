"""Attached CMS SignedData: build (via cryptography) and verify (asn1crypto parse + cryptography check).

Generic helper shared by the dev signer and the emulator: it knows CMS, nothing about fiscal rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from agent.secr.errors import SignerError

_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], str]] = {
    "sha256": (hashes.SHA256, "sha256"),
    "sha384": (hashes.SHA384, "sha384"),
    "sha512": (hashes.SHA512, "sha512"),
}


class CmsError(ValueError):
    """The bytes are not a valid attached CMS SignedData with one good signature."""


@dataclass(frozen=True)
class VerifiedCms:
    content: bytes
    certificate: x509.Certificate
    subject_key_id: str  # lowercase hex
    signing_time: datetime | None


def sign_attached(content: bytes, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> bytes:
    """One signer, the signer's certificate inside, signed attributes (content type, time, digest)."""
    try:
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(certificate, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities])
        )
    except (ValueError, TypeError) as exc:  # a key that does not fit its certificate, mostly
        raise SignerError(f"cannot sign: {exc}", what_to_do="check the signing key and certificate") from exc


def subject_key_id(certificate: x509.Certificate) -> str:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return ext.value.digest.hex()
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest.hex()


def verify_attached(der: bytes) -> VerifiedCms:
    """Parse and verify; raise CmsError naming what is wrong."""
    try:
        info = asn1_cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise CmsError("not a CMS SignedData")
        signed = info["content"]
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise CmsError(f"exactly one signer required, found {len(signers)}")
        content = signed["encap_content_info"]["content"].native
        if content is None:
            raise CmsError("detached signature: the signed content must be inside the envelope")
        certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
        if not certs:
            raise CmsError("the signer's certificate is not inside the envelope")
        signer = signers[0]
        sid = signer["sid"]
        cert_asn1 = None
        for c in certs:
            if sid.name == "issuer_and_serial_number":
                if c.serial_number == sid.chosen["serial_number"].native and c.issuer == sid.chosen["issuer"]:
                    cert_asn1 = c
            elif c.key_identifier == sid.chosen.native:
                cert_asn1 = c
        if cert_asn1 is None:
            raise CmsError("no certificate in the envelope matches the signer")
        certificate = x509.load_der_x509_certificate(cert_asn1.dump())
        digest_name = signer["digest_algorithm"]["algorithm"].native
        if digest_name not in _HASHES:
            raise CmsError(f"unsupported digest algorithm {digest_name}")
        hash_cls, hashlib_name = _HASHES[digest_name]
        signed_attrs = signer["signed_attrs"]
        signing_time = None
        if signed_attrs.native is not None and len(signed_attrs):
            digest = None
            for attr in signed_attrs:
                kind = attr["type"].native
                if kind == "message_digest":
                    digest = attr["values"][0].native
                elif kind == "signing_time":
                    signing_time = attr["values"][0].native
            if digest != hashlib.new(hashlib_name, content).digest():
                raise CmsError("message digest does not match the content")
            to_verify = b"\x31" + signed_attrs.dump()[1:]
        else:
            to_verify = content
        signature = signer["signature"].native
        public_key = certificate.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, to_verify, ec.ECDSA(hash_cls()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, to_verify, padding.PKCS1v15(), hash_cls())
        else:
            raise CmsError("unsupported public key type")
    except CmsError:
        raise
    except InvalidSignature as exc:
        raise CmsError("the signature does not verify") from exc
    except Exception as exc:  # asn1crypto raises a zoo of types on malformed input
        raise CmsError(f"malformed CMS: {exc}") from exc
    return VerifiedCms(
        content=content,
        certificate=certificate,
        subject_key_id=subject_key_id(certificate),
        signing_time=signing_time,
    )
