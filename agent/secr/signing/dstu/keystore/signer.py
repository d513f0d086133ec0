"""A signer from a key container and the certificate of its signing key, checked for validity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..cades import DstuSigner
from ..certificate import CertificateError, DstuCertificate, parse_certificate
from .errors import BadCertificate, CertificateNotValid, KeyContainerError, KeyMismatch
from .load import load_container
from .pem import _is_pem, _pem_blocks


def _certificates(data: bytes, source: str) -> list[DstuCertificate]:
    """Every certificate in a DER file or PEM file (a PEM bundle may hold several)."""
    if not _is_pem(data):
        try:
            return [parse_certificate(data)]
        except CertificateError as exc:
            raise BadCertificate(f"{source} is not a usable ДСТУ 4145 certificate: {exc}") from exc
    certs = []
    for label, body in _pem_blocks(data):
        if label == "CERTIFICATE":
            try:
                certs.append(parse_certificate(body))
            except CertificateError as exc:
                raise BadCertificate(f"{source} holds a certificate that is not usable: {exc}") from exc
    return certs


def _container_certificates(ders: list[bytes], source: str) -> list[DstuCertificate]:
    # A PKCS#12 or .jks may also hold the CA chain; certificates that are not ДСТУ 4145 are skipped,
    # as they cannot belong to a key loaded here.
    certs = []
    for der in ders:
        try:
            certs.append(parse_certificate(der))
        except CertificateError:
            continue
    return certs


def _utc(moment: datetime) -> datetime:
    # A naive clock reading is taken as UTC rather than failing on the comparison with the
    # certificate's aware dates.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_validity(cert: DstuCertificate, now: datetime) -> None:
    now = _utc(now)
    if cert.not_before <= now <= cert.not_after:
        return
    state = "expired" if now > cert.not_after else "not yet valid"
    raise CertificateNotValid(
        f"certificate {cert.common_name!r} (key id {cert.subject_key_id.hex()}) is {state}: valid from"
        f" {cert.not_before:%Y-%m-%d %H:%M:%S} UTC to {cert.not_after:%Y-%m-%d %H:%M:%S} UTC, now is"
        f" {now:%Y-%m-%d %H:%M:%S} UTC; get a current certificate from the CA"
    )


def certificate_days_left(cert: DstuCertificate, now: datetime) -> int:
    """Whole days until the certificate expires: 0 on its last day, negative once it has."""
    return (cert.not_after - _utc(now)).days


def load_signer(
    key_file: str | Path,
    *,
    password: str | bytes | None = None,
    certificate_file: str | Path | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DstuSigner:
    """A signer from a key container and the certificate of its signing key.

    The certificate comes from ``certificate_file`` (DER or PEM) or, when that is not given, from
    CERTIFICATE blocks in a PEM key file or the certificates of a PKCS#12 / .jks container (those
    that are not ДСТУ 4145, e.g. CA certificates of another kind, are skipped); the key whose public
    key a certificate carries signs.  ``clock``
    decides certificate validity and goes on to the signer for signing times.
    """
    try:
        data = Path(key_file).read_bytes()
    except OSError as exc:
        raise KeyContainerError(f"cannot read key container {key_file}: {exc.strerror}") from exc
    keys, container_certs = load_container(data, password)
    if certificate_file is None:
        # PEM bundles, PKCS#12 and .jks carry certificates; PKCS#8, PBES2 and Key-6.dat do not.
        certs = (
            _certificates(data, str(key_file))
            if _is_pem(data)
            else _container_certificates(container_certs, str(key_file))
        )
        source = str(key_file)
        if not certs:
            raise BadCertificate(
                f"{key_file} holds no certificate: pass the signing certificate (certificate_file, DER or PEM)"
            )
    else:
        try:
            cert_data = Path(certificate_file).read_bytes()
        except OSError as exc:
            raise BadCertificate(f"cannot read certificate {certificate_file}: {exc.strerror}") from exc
        certs = _certificates(cert_data, str(certificate_file))
        source = str(certificate_file)
        if not certs:
            raise BadCertificate(f"{certificate_file} holds no CERTIFICATE PEM block")
    # A mismatched pair is reported before the dates: a new certificate would not fix it.
    pair = next(((k, c) for c in certs for k in keys if k.matches(c)), None)
    if pair is None:
        key_ids = ", ".join(k.key_id.hex() for k in keys)
        cert_ids = ", ".join(c.subject_key_id.hex() for c in certs)
        raise KeyMismatch(
            f"no key in {key_file} (key ids {key_ids}) belongs to the certificate in {source}"
            f" (key id {cert_ids}): pass the certificate issued for this key"
        )
    key, cert = pair
    _check_validity(cert, clock())
    return DstuSigner(cert.curve, key.d, cert.der, clock=clock)
