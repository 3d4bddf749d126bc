"""``chatserver keys``: the offline organisation key, counsellor and records-key certificates,
revocations, and the offline recovery key.

Run on an offline machine, except ``install-records-cert`` and ``install-recovery-cert``, which
put a certificate into the server's database, and ``recover``, which grants the records key to
a counsellor with the recovery secret typed at its prompt (never stored, never an argument).
The organisation signing key file is written once with mode 0600 and refused if anyone but its
owner can read it. Only public keys, certificates and signed revocation lists are printed; the
signing key never is, and the recovery secret only once, by ``init-recovery``. The crypto is in
:mod:`chatserver.crypto`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chatserver import crypto
from chatserver.config import Config, load_config
from chatserver.errors import DomainError
from chatserver.records.db import migrate, open_engine
from chatserver.records.store import Keyring

KEY_FILE = "org-signing-key.json"
REVOCATIONS_FILE = "revocations.json"
KEY_KIND = "erstkontakt-org-signing-key"
MAX_DAYS = 3650
RECORDS_DAYS = 365


class KeyFileError(Exception):
    """A key or list file that is missing, unsafe or not what it claims to be."""


def write_org_key(directory: Path, org: crypto.SigningSeed) -> Path:
    """Write the signing key file (mode 0600, never over an existing one)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / KEY_FILE
    data = json.dumps({"kind": KEY_KIND, "v": crypto.VERSION,
                       "seed": crypto.b64encode(org.seed()),
                       "public_key": crypto.b64encode(org.public_key)}) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a signing key") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    return path


def load_org_key(path: Path) -> crypto.SigningSeed:
    """Read the signing key file, refusing one that others could read."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is accessible by others; chmod 600 it first")
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{path} is not a signing key file") from None
    if not isinstance(data, dict) or data.get("kind") != KEY_KIND:
        raise KeyFileError(f"{path} is not a signing key file")
    try:
        org = crypto.SigningSeed(crypto.b64decode(str(data.get("seed"))))
    except crypto.CryptoError:
        raise KeyFileError(f"{path} holds no valid signing key") from None
    if crypto.b64encode(org.public_key) != data.get("public_key"):
        raise KeyFileError(f"{path} is inconsistent: its public key does not match")
    return org


def load_revocation_list(path: Path) -> dict[str, Any]:
    """Read a revocation list file as JSON (checked by whoever uses it)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{path} is not JSON") from None
    return data


def write_public_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``data`` (public material, mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=1) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _public_key_arg(text: str, option: str = "--pubkey", kind: str = "Ed25519") -> bytes:
    try:
        key = crypto.b64decode(text)
    except crypto.CryptoError:
        raise KeyFileError(f"{option} is not base64") from None
    if len(key) != crypto.KEY_BYTES:
        raise KeyFileError(f"{option} is not a 32-byte {kind} public key")
    return key


def _init_org(args: argparse.Namespace) -> int:
    org = crypto.SigningSeed.generate()
    out = Path(args.out)
    path = write_org_key(out, org)
    revocations = out / REVOCATIONS_FILE
    if not revocations.exists():
        write_public_json(revocations, crypto.issue_revocation_list(org, int(time.time()), []))
    print(crypto.b64encode(org.public_key))
    print(f"signing key written to {path} (mode 0600): keep it offline; "
          f"pin the line above as CHATSERVER_ORG_PUBLIC_KEY", file=sys.stderr)
    return 0


def _certify(args: argparse.Namespace) -> int:
    org = load_org_key(Path(args.org_key))
    if not 1 <= args.days <= MAX_DAYS:
        raise KeyFileError(f"--days must be between 1 and {MAX_DAYS}")
    now = int(time.time())
    try:
        cert = crypto.issue_certificate(org, _public_key_arg(args.pubkey), args.pseudonym, now,
                                        now + args.days * 86400)
    except crypto.CertificateError as exc:
        raise KeyFileError(str(exc)) from None
    print(json.dumps(cert, ensure_ascii=False))
    return 0


def _certify_records(args: argparse.Namespace) -> int:
    org = load_org_key(Path(args.org_key))
    if not 1 <= args.days <= MAX_DAYS:
        raise KeyFileError(f"--days must be between 1 and {MAX_DAYS}")
    records_pk = _public_key_arg(args.records_pk, "--records-pk", "X25519")
    print(f"certifying the records key with fingerprint {crypto.fingerprint(records_pk)}: it "
          "must be the one the creating counsellor's console shows", file=sys.stderr)
    now = int(time.time())
    cert = crypto.issue_records_certificate(org, records_pk, now, now + args.days * 86400)
    print(json.dumps(cert))
    return 0


async def install_records_certificate(config: Config, certificate: Any) -> str:
    """Check a records-key certificate against the pinned org key and the team's records key
    in the database, then install it; returns the key's fingerprint."""
    if not config.org_public_key:
        raise KeyFileError("CHATSERVER_ORG_PUBLIC_KEY is not set: nothing to check against")
    engine = open_engine(config)
    try:
        await migrate(engine)
        keyring = Keyring(engine)
        records_pk, _ = await keyring.records_key()
        if not records_pk:
            raise KeyFileError("the team has no records key yet: a counsellor's console "
                               "creates it at the first sign-in")
        try:
            key = crypto.verify_records_key(records_pk, certificate,
                                            crypto.b64decode(config.org_public_key),
                                            int(time.time()))
        except crypto.CertificateError as exc:
            raise KeyFileError(f"refused: {exc}") from None
        try:
            await keyring.set_records_certificate(certificate)
        except DomainError as exc:
            raise KeyFileError(exc.message) from None
        return crypto.fingerprint(key)
    finally:
        await engine.dispose()


def _install_records_cert(args: argparse.Namespace) -> int:
    try:
        certificate = json.loads(Path(args.certificate).read_text("utf-8"))
    except OSError as exc:
        raise KeyFileError(f"cannot read {args.certificate}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{args.certificate} is not JSON") from None
    fp = asyncio.run(install_records_certificate(load_config(), certificate))
    print(f"records key {fp} certified: widgets and consoles seal to it now", file=sys.stderr)
    return 0


def _init_recovery(args: argparse.Namespace) -> int:
    org = load_org_key(Path(args.org_key))
    if not 1 <= args.days <= MAX_DAYS:
        raise KeyFileError(f"--days must be between 1 and {MAX_DAYS}")
    secret = crypto.generate_recovery_secret()
    _, recovery_pk = crypto.recovery_keys(secret)
    now = int(time.time())
    cert = crypto.issue_recovery_certificate(org, recovery_pk, now, now + args.days * 86400)
    # The secret goes to the terminal once, never into a file or onto the server: whoever
    # holds it can open every epoch of the records key.
    print("RECOVERY SECRET (shown once: write it on paper, keep it offline and locked away; "
          "it opens every case record):", file=sys.stderr)
    print(f"  {secret}", file=sys.stderr)
    print(f"recovery key fingerprint {crypto.fingerprint(recovery_pk)}; install the "
          "certificate on stdout with: chatserver keys install-recovery-cert FILE",
          file=sys.stderr)
    print(json.dumps(cert))
    return 0


async def install_recovery_certificate(config: Config, certificate: Any) -> str:
    """Check a recovery-key certificate against the pinned org key and install it; returns
    the key's fingerprint. Consoles then seal every epoch of the records key to it."""
    org_pk = _pinned(config)
    try:
        key = crypto.verify_recovery_key(
            certificate.get("recovery_pk") if isinstance(certificate, dict) else None,
            certificate, org_pk, int(time.time()))
    except crypto.CertificateError as exc:
        raise KeyFileError(f"refused: {exc}") from None
    engine = open_engine(config)
    try:
        await migrate(engine)
        try:
            await Keyring(engine).set_recovery_key(crypto.b64encode(key), certificate,
                                                   time.time())
        except DomainError as exc:
            raise KeyFileError(exc.message) from None
        return crypto.fingerprint(key)
    finally:
        await engine.dispose()


def _install_recovery_cert(args: argparse.Namespace) -> int:
    certificate = _read_json(args.certificate)
    fp = asyncio.run(install_recovery_certificate(load_config(), certificate))
    print(f"recovery key {fp} installed: consoles holding the records key seal every epoch "
          "to it", file=sys.stderr)
    return 0


def _pinned(config: Config) -> bytes:
    if not config.org_public_key:
        raise KeyFileError("CHATSERVER_ORG_PUBLIC_KEY is not set: nothing to check against")
    return crypto.b64decode(config.org_public_key)


async def recover(config: Config, name: str, secret: str) -> list[str]:
    """Grant the newest epoch of the records key to every verified box key of the account
    ``name``, opening it with the recovery ``secret`` in this process only; returns the
    fingerprints of the box keys granted. Refuses a wrong secret before anything changes."""
    org_pk = _pinned(config)
    now = int(time.time())
    engine = open_engine(config)
    try:
        await migrate(engine)
        keyring = Keyring(engine)
        recovery_pk_b64, cert = await keyring.recovery_key()
        if not recovery_pk_b64:
            raise KeyFileError("no recovery key is installed (chatserver keys init-recovery, "
                               "install-recovery-cert)")
        try:
            recovery_pk = crypto.verify_recovery_key(recovery_pk_b64, cert, org_pk, now)
        except crypto.CertificateError as exc:
            raise KeyFileError(f"the installed recovery key is refused: {exc}") from None
        epochs = await keyring.epochs()
        if not epochs:
            raise KeyFileError("the team has no records key: nothing to recover")
        newest = epochs[-1]
        if newest["sealed_recovery"] is None or newest["recovery_pk"] != recovery_pk_b64:
            raise KeyFileError(
                f"epoch {newest['epoch']} of the records key is not sealed to this recovery "
                "key: a console holding the records key seals it when it next unlocks")
        try:
            records_sk = crypto.open_recovery(
                secret, recovery_pk, crypto.b64decode(newest["sealed_recovery"]),
                crypto.b64decode(newest["public_key"]))
        except crypto.WrongRecoverySecret as exc:
            raise KeyFileError(f"refused: {exc}; nothing was changed") from None
        except crypto.CryptoError:
            raise KeyFileError("refused: the seal of the newest epoch does not open with this "
                               "secret; nothing was changed") from None
        user_id = await keyring.enabled_account(name)
        if user_id is None:
            raise KeyFileError(f"no enabled account named {name!r}")
        status = await keyring.status(user_id)
        granted: list[str] = []
        for member in status["members"]:
            if member["user_id"] != user_id:
                continue
            try:
                crypto.verify_box_key(member["certificate"], member["box_pk"],
                                      member["box_sig"], org_pk, now)
            except crypto.CryptoError as exc:
                print(f"box key not granted, its proof does not hold: {exc}", file=sys.stderr)
                continue
            box_pk = crypto.b64decode(member["box_pk"])
            sealed = crypto.b64encode(crypto.seal(box_pk, records_sk))
            await keyring.recover(user_id, member["box_pk"], sealed, time.time())
            granted.append(crypto.fingerprint(box_pk))
        if not granted:
            raise KeyFileError(f"{name} has no box key with a valid proof: they sign in to the "
                               "console with a certified identity first")
        return granted
    finally:
        await engine.dispose()


def _recover(args: argparse.Namespace) -> int:
    config = load_config()
    if sys.stdin.isatty():
        secret = getpass.getpass("recovery secret (not shown): ")
    else:
        secret = sys.stdin.readline()
    granted = asyncio.run(recover(config, args.name, secret.strip()))
    for fp in granted:
        print(f"granted the records key to {args.name}'s box key {fp}", file=sys.stderr)
    return 0


def _read_json(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text("utf-8"))
    except OSError as exc:
        raise KeyFileError(f"cannot read {name}: {exc.strerror}") from None
    except ValueError:
        raise KeyFileError(f"{name} is not JSON") from None


def _revoke(args: argparse.Namespace) -> int:
    org = load_org_key(Path(args.org_key))
    path = Path(args.list)
    revoked: set[bytes] = set()
    if path.exists():
        try:
            revoked = set(crypto.verify_revocation_list(
                load_revocation_list(path), org.public_key, int(time.time()), max_age=2**62))
        except crypto.CertificateError as exc:
            raise KeyFileError(f"{path}: {exc}") from None
    for text in args.pubkey or []:
        revoked.add(_public_key_arg(text, kind="Ed25519 or X25519"))
    now = int(time.time())
    write_public_json(path, crypto.issue_revocation_list(org, now, sorted(revoked)))
    print(f"{path}: {len(revoked)} revoked key(s), issued {now}", file=sys.stderr)
    return 0


def _show_public(args: argparse.Namespace) -> int:
    print(crypto.b64encode(load_org_key(Path(args.org_key)).public_key))
    return 0


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its subcommands to the ``chatserver`` command."""
    keys = subparsers.add_parser("keys", help="organisation key, certificates, revocations")
    keys.set_defaults(func=run)
    sub = keys.add_subparsers(dest="keys_command", required=True)

    init = sub.add_parser("init-org", help="create the organisation signing key (offline)")
    init.add_argument("--out", required=True, help="directory for the key file (created)")
    init.set_defaults(keys_func=_init_org)

    certify = sub.add_parser("certify", help="certify a counsellor identity key")
    certify.add_argument("--org-key", required=True, help="organisation signing key file")
    certify.add_argument("--pubkey", required=True, help="counsellor Ed25519 public key, base64")
    certify.add_argument("--pseudonym", required=True, help="name shown to visitors")
    certify.add_argument("--days", type=int, default=90, help="validity in days (default 90)")
    certify.set_defaults(keys_func=_certify)

    records = sub.add_parser("certify-records", help="certify the team's records public key")
    records.add_argument("--org-key", required=True, help="organisation signing key file")
    records.add_argument("--records-pk", required=True,
                         help="the records X25519 public key, base64 (the console shows it)")
    records.add_argument("--days", type=int, default=RECORDS_DAYS,
                         help=f"validity in days (default {RECORDS_DAYS})")
    records.set_defaults(keys_func=_certify_records)

    install = sub.add_parser("install-records-cert",
                             help="install a records-key certificate into the database (online)")
    install.add_argument("certificate", help="the certificate JSON file")
    install.set_defaults(keys_func=_install_records_cert)

    init_recovery = sub.add_parser(
        "init-recovery", help="create the offline recovery key (key ceremony, offline)")
    init_recovery.add_argument("--org-key", required=True, help="organisation signing key file")
    init_recovery.add_argument("--days", type=int, default=MAX_DAYS,
                               help=f"validity in days (default {MAX_DAYS})")
    init_recovery.set_defaults(keys_func=_init_recovery)

    install_recovery = sub.add_parser(
        "install-recovery-cert", help="install the recovery-key certificate (online)")
    install_recovery.add_argument("certificate", help="the certificate JSON file")
    install_recovery.set_defaults(keys_func=_install_recovery_cert)

    recover_cmd = sub.add_parser(
        "recover", help="grant the records key to an account with the recovery secret "
                        "(online; the secret is read from the terminal)")
    recover_cmd.add_argument("name", help="the account to grant it to (enabled, certified)")
    recover_cmd.set_defaults(keys_func=_recover)

    revoke = sub.add_parser("revoke", help="revoke keys and re-sign the revocation list")
    revoke.add_argument("--org-key", required=True, help="organisation signing key file")
    revoke.add_argument("--list", required=True, help="revocation list file (created if absent)")
    revoke.add_argument("--pubkey", action="append",
                        help="identity key (or retired records key) to revoke, base64 "
                             "(repeatable; none: re-sign only)")
    revoke.set_defaults(keys_func=_revoke)

    show = sub.add_parser("show-public", help="print the organisation public key")
    show.add_argument("--org-key", required=True, help="organisation signing key file")
    show.set_defaults(keys_func=_show_public)


def run(args: argparse.Namespace) -> int:
    """Run one ``keys`` subcommand; errors go to stderr with exit status 2."""
    try:
        code: int = args.keys_func(args)
    except KeyFileError as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 2
    return code
