// The records key's epochs and the offline recovery key (docs/protocol.md, "Rotation of the
// records key"): a rotation makes a new epoch whose link seals the previous epoch's secret, so
// the newest secret opens every older one; every epoch is sealed to the recovery key as well,
// whose certificate the console checks before it seals anything to it. Only the console loads
// this module (never the widget). The Python twin is chatserver/crypto.py; both pass
// tests/vectors/epochs.json.
import {
  CertificateError, concat, CryptoError, ExpiredCertificate, internal, RevokedCertificate,
  TamperedFrame, utf8, VERSION,
} from "./e2e.js";
import { openSealed } from "./e2e-keys.js";

const {
  nacl, LABEL, u64, keyField, wholeSeconds, serialField, sigField, bytesOf, equal, KEY_BYTES,
  CLOCK_SKEW_S,
} = internal;

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const RECOVERY_SYMBOLS = 32;

/** A recovery secret that is not one, or not the one of the certified recovery key. */
export class WrongRecoverySecret extends CryptoError { get code() { return "recovery"; } }

export function recoveryCertificateBytes(recoveryPk, issued, expires, serial) {
  return concat(LABEL, utf8("/recovery-key\0"), recoveryPk, u64(issued), u64(expires), serial);
}

/**
 * The recovery public key to seal epochs to: recoveryPk as served, if cert certifies exactly
 * it under the pinned org key, in its validity period and not revoked.
 */
export function verifyRecoveryKey(recoveryPk, cert, orgPublicKey, now, revoked = []) {
  if (!cert || typeof cert !== "object" || cert.v !== VERSION) {
    throw new CertificateError("the recovery key has no certificate of this version");
  }
  const certified = keyField(cert.recovery_pk, "recovery key");
  const issued = wholeSeconds(cert.issued, "issued");
  const expires = wholeSeconds(cert.expires, "expires");
  const serial = serialField(cert.serial);
  const sig = sigField(cert.sig);
  const org = bytesOf(orgPublicKey, "organisation key", KEY_BYTES);
  if (!nacl().sign.detached.verify(recoveryCertificateBytes(certified, issued, expires, serial),
                                   sig, org)) {
    throw new CertificateError("recovery key certificate is not signed by the organisation");
  }
  if (now + CLOCK_SKEW_S < issued || now > expires) {
    throw new ExpiredCertificate("recovery key certificate is expired or not yet valid");
  }
  if (revoked.some((k) => equal(k, certified))) throw new RevokedCertificate("recovery key has been revoked");
  if (!equal(keyField(recoveryPk, "served recovery key"), certified)) {
    throw new CertificateError("the served recovery key is not the certified one");
  }
  return certified;
}

/** The recovery key pair {sk, pk} of a recovery secret as typed (case, spaces, hyphens and
 * o/i/l for 0/1 do not matter). */
export function recoveryKeys(text) {
  const code = typeof text === "string"
    ? text.toLowerCase().replace(/[\s-]/g, "").replace(/o/g, "0").replace(/[il]/g, "1") : "";
  if (code.length !== RECOVERY_SYMBOLS || [...code].some((c) => !ALPHABET.includes(c))) {
    throw new WrongRecoverySecret("not a recovery secret: 32 symbols in groups of four");
  }
  const sk = nacl().hash(concat(LABEL, utf8("/recovery\0" + code))).slice(0, KEY_BYTES);
  return { sk, pk: nacl().scalarMult.base(sk) };
}

/** An epoch's records secret from its seal to the recovery key, checked against the epoch. */
export function openRecovery(secret, recoveryPk, sealed, epochPk) {
  const { sk, pk } = recoveryKeys(secret);
  if (!equal(pk, bytesOf(recoveryPk, "recovery key", KEY_BYTES))) {
    throw new WrongRecoverySecret("this recovery secret does not belong to the recovery key");
  }
  const recordsSk = openSealed(sk, pk, sealed);
  sk.fill(0);
  if (recordsSk.length !== KEY_BYTES || !equal(nacl().scalarMult.base(recordsSk), bytesOf(epochPk, "epoch key", KEY_BYTES))) {
    throw new TamperedFrame("the sealed records key is not the epoch's");
  }
  return recordsSk;
}

/**
 * Every epoch's records secret, oldest first, from the newest epoch's secret. epochs lists
 * {pk, link} oldest first, where the link of epoch n is the secret of epoch n-1 sealed to epoch
 * n's public key (null for the first); each secret must fit its public key.
 */
export function openEpochs(newestSk, epochs) {
  if (!epochs.length) throw new CryptoError("no epochs");
  const found = [bytesOf(newestSk, "records key", KEY_BYTES)];
  for (let i = epochs.length - 1; i >= 0; i--) {
    const pk = bytesOf(epochs[i].pk, "epoch key", KEY_BYTES);
    const sk = found[0];
    if (sk.length !== KEY_BYTES || !equal(nacl().scalarMult.base(sk), pk)) {
      throw new TamperedFrame(`epoch ${i + 1}'s secret does not fit its public key`);
    }
    if (i === 0) break;
    if (!epochs[i].link) throw new TamperedFrame(`epoch ${i + 1} has no link to the one before`);
    found.unshift(openSealed(sk, pk, epochs[i].link));
  }
  return found;
}

/** Open what was sealed to one of keys ({sk, pk}, newest first): a record, drop or entry does
 * not say which epoch it was sealed to. */
export function openSealedAny(keys, sealed) {
  for (const { sk, pk } of keys) {
    try { return openSealed(sk, pk, sealed); } catch (err) {
      if (!(err instanceof TamperedFrame)) throw err;
    }
  }
  throw new TamperedFrame("sealed message does not open with any epoch's key");
}
