"""The certificate that signs C2PA manifests.

C2PA rejects a self-signed signing certificate, so on first use ungated makes a small local CA
and an ES256 (P-256) signing certificate issued by it, under DATA_DIR/provenance/ (private keys
mode 0600). To sign with your own certificate instead (one from a CA that C2PA validators trust),
point config.toml at it:

    [provenance]
    certificate = "/path/to/chain.pem"   # the signing certificate, then its issuers
    private_key = "/path/to/key.pem"     # its ES256 (EC P-256) private key, PEM (PKCS#8 or SEC1)

Both are checked when they are read, so a wrong file stops with one line before a clip is made.
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
            chain_path = Path(configured["certificate"]).expanduser()
            key_path = Path(configured["private_key"]).expanduser()
            chain, key = chain_path.read_bytes(), key_path.read_bytes()
        except (KeyError, OSError) as err:
            raise UngatedError(f"config.toml [provenance]: give both certificate and private_key files ({err})") from None
        return Credentials(chain, _signing_key(key, key_path, chain, chain_path), None)
    here = folder()
    if not (here / "signer.pem").is_file():
        _make_local_ca_once(here)
    return Credentials((here / "signer.pem").read_bytes(), (here / "signer.key").read_bytes(),
                       (here / "ca.pem").read_bytes())


def _signing_key(key_pem: bytes, key_path: Path, chain_pem: bytes, chain_path: Path) -> bytes:
    """The configured key as the PKCS#8 PEM that C2PA signing takes, after checking that it is an
    unencrypted EC P-256 key (PEM or DER, PKCS#8 or SEC1) and that the chain's first certificate is
    its own. Each problem is one line naming the file and what to do."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    where = "config.toml [provenance]"
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise UngatedError(f"{where} certificate: {chain_path} is not PEM certificates; give the signing "
                           "certificate, then its issuers, as PEM (-----BEGIN CERTIFICATE-----)") from None
    loaded = None
    for read in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            loaded = read(key_pem, password=None)
            break
        except TypeError:  # it needs a password
            raise UngatedError(f"{where} private_key: {key_path} is encrypted; write an unencrypted copy with "
                               f"`openssl pkcs8 -topk8 -nocrypt -in {key_path} -out key.pem`") from None
        except (ValueError, UnsupportedAlgorithm):
            continue
    if loaded is None:
        raise UngatedError(f"{where} private_key: {key_path} is not a private key ungated can read; give an EC "
                           f"P-256 key as PEM (PKCS#8: `openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem`)")
    if not (isinstance(loaded, ec.EllipticCurvePrivateKey) and isinstance(loaded.curve, ec.SECP256R1)):
        kind = (f"EC {loaded.curve.name}" if isinstance(loaded, ec.EllipticCurvePrivateKey)
                else type(loaded).__name__.strip("_").removesuffix("PrivateKey"))
        raise UngatedError(f"{where} private_key: {key_path} is an {kind} key; C2PA "
                           "signing here uses ES256, which needs an EC P-256 (prime256v1) key and its certificate")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if certificates[0].public_key().public_bytes(serialization.Encoding.DER, public) != \
            loaded.public_key().public_bytes(serialization.Encoding.DER, public):
        raise UngatedError(f"{where}: {key_path} is not the private key of the first certificate in {chain_path}; "
                           "the certificate file must start with the signing certificate of that key")
    return loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())


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
