"""Attached CMS SignedData: build (via cryptography) and verify (asn1crypto parse + cryptography check).

Generic helper shared by the dev signer and the emulator: it knows CMS, nothing about fiscal rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    """Parse and verify; raise CmsError naming what is wrong.

    The steps follow RFC 5652: the ContentInfo (§3), the SignedData with its one attached content
    and the signer's certificate (§5.1), the signer identified (§5.3), the message digest over the
    signed attributes (§5.4), the signature (§5.6).
    """
    try:
        signed = _signed_data(der)
        signer = _one_signer(signed)
        content = _attached_content(signed)
        certificate = _signer_certificate(signer, _certificates(signed))
        hash_cls, hashlib_name = _digest_algorithm(signer)
        to_verify, signing_time = _signed_bytes(signer, content, hashlib_name)
        _check_signature(certificate, signer["signature"].native, to_verify, hash_cls)
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


def _signed_data(der: bytes) -> asn1_cms.SignedData:
    # RFC 5652 §3: a ContentInfo whose content type is id-signedData.
    info = asn1_cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise CmsError("not a CMS SignedData")
    return info["content"]


def _one_signer(signed: asn1_cms.SignedData) -> asn1_cms.SignerInfo:
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise CmsError(f"exactly one signer required, found {len(signers)}")
    return signers[0]


def _attached_content(signed: asn1_cms.SignedData) -> bytes:
    # RFC 5652 §5.2: eContent absent means a detached signature.
    content: bytes | None = signed["encap_content_info"]["content"].native
    if content is None:
        raise CmsError("detached signature: the signed content must be inside the envelope")
    return content


def _certificates(signed: asn1_cms.SignedData) -> list[Any]:
    certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
    if not certs:
        raise CmsError("the signer's certificate is not inside the envelope")
    return certs


def _signer_certificate(signer: asn1_cms.SignerInfo, certs: list[Any]) -> x509.Certificate:
    # RFC 5652 §5.3: sid names the certificate by issuer and serial number or by subject key id.
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
    return x509.load_der_x509_certificate(cert_asn1.dump())


def _digest_algorithm(signer: asn1_cms.SignerInfo) -> tuple[type[hashes.HashAlgorithm], str]:
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise CmsError(f"unsupported digest algorithm {digest_name}")
    return _HASHES[digest_name]


def _signed_bytes(
    signer: asn1_cms.SignerInfo, content: bytes, hashlib_name: str
) -> tuple[bytes, datetime | None]:
    """What the signature covers, and the signing time when the signed attributes carry one.

    RFC 5652 §5.4: with signed attributes, their message-digest must be the content's digest and
    the signature covers their DER with the SET OF tag in place of [0] IMPLICIT; without them it
    covers the content itself.
    """
    signed_attrs = signer["signed_attrs"]
    if signed_attrs.native is None or not len(signed_attrs):
        return content, None
    digest = None
    signing_time = None
    for attr in signed_attrs:
        kind = attr["type"].native
        if kind == "message_digest":
            digest = attr["values"][0].native
        elif kind == "signing_time":
            signing_time = attr["values"][0].native
    if digest != hashlib.new(hashlib_name, content).digest():
        raise CmsError("message digest does not match the content")
    return b"\x31" + signed_attrs.dump()[1:], signing_time


def _check_signature(
    certificate: x509.Certificate, signature: bytes, to_verify: bytes, hash_cls: type[hashes.HashAlgorithm]
) -> None:
    # RFC 5652 §5.6; raises InvalidSignature when it does not verify.
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, to_verify, ec.ECDSA(hash_cls()))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, to_verify, padding.PKCS1v15(), hash_cls())
    else:
        raise CmsError("unsupported public key type")
