"""The certificate that signs C2PA manifests.

C2PA rejects a self-signed signing certificate, so on first use ungated makes a small local CA
and an ES256 (P-256) signing certificate issued by it, under DATA_DIR/provenance/ (private keys
mode 0600). To sign with your own certificate instead (one from a CA that C2PA validators trust),
point config.toml at it:

    [provenance]
    certificate = "/path/to/chain.pem"   # the signing certificate, then its issuers
    private_key = "/path/to/key.pem"     # its ES256 private key (PKCS#8 PEM)
"""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..errors import UngatedError

CA_YEARS, SIGNER_YEARS = 10, 2


@dataclass(frozen=True)
class Credentials:
    chain_pem: bytes  # signing certificate, then its issuer(s)
    key_pem: bytes
    ca_pem: bytes | None  # the local CA, which verify trusts; None for a configured certificate

    def __repr__(self) -> str:  # never print key material, whoever logs this object
        return f"Credentials(chain={len(self.chain_pem)} bytes, key=<hidden>)"


def folder() -> Path:
    return settings.home() / "provenance"


def load() -> Credentials:
    """The configured certificate, or the local CA's signer (made on first use)."""
    configured = settings.config().get("provenance", {})
    if "certificate" in configured or "private_key" in configured:
        try:
            chain = Path(configured["certificate"]).expanduser().read_bytes()
            key = Path(configured["private_key"]).expanduser().read_bytes()
        except (KeyError, OSError) as err:
            raise UngatedError(f"config.toml [provenance]: give both certificate and private_key files ({err})") from None
        return Credentials(chain, key, None)
    here = folder()
    if not (here / "signer.pem").is_file():
        _make_local_ca_once(here)
    return Credentials((here / "signer.pem").read_bytes(), (here / "signer.key").read_bytes(),
                       (here / "ca.pem").read_bytes())


def local_ca() -> bytes | None:
    path = folder() / "ca.pem"
    return path.read_bytes() if path.is_file() else None


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)


def _make_local_ca_once(here: Path) -> None:
    """Made in a private folder and renamed into place, so processes starting together agree on one CA."""
    here.parent.mkdir(parents=True, exist_ok=True)
    building = here.parent / f".provenance-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    _make_local_ca(building)
    try:
        building.rename(here)
    except OSError:  # another process got there first
        shutil.rmtree(building, ignore_errors=True)


def _make_local_ca(here: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ungated (self-hosted)")])

    def usage(sign_certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=not sign_certs, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs,
                             crl_sign=sign_certs, encipher_only=False, decipher_only=False)

    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(minutes=5)
    ca_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = name("ungated local CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(sign_certs=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(name("ungated signer")).issuer_name(ca_name)
              .public_key(signer_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(now + datetime.timedelta(days=365 * SIGNER_YEARS))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(usage(sign_certs=False), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))

    def pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    here.mkdir(parents=True, exist_ok=True)
    _write_private(here / "ca.key", pem(ca_key))
    _write_private(here / "signer.key", pem(signer_key))
    certificate = serialization.Encoding.PEM
    (here / "ca.pem").write_bytes(ca.public_bytes(certificate))
    # Written last: its presence means the set is complete.
    (here / "signer.pem").write_bytes(signer.public_bytes(certificate) + ca.public_bytes(certificate))
