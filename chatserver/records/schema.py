"""Every table of the database in one place: records, drops, keys, accounts, statistics.

Only the Alembic revisions in ``migrations/versions`` create them (run by
:func:`chatserver.records.db.migrate`), so a change here needs a new revision
(docs/architecture.md, "Schema migrations"); the stores read and write them. Every column that
holds something a person wrote holds ciphertext.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

records = sa.Table(
    "records", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("retain_until", sa.Float, nullable=False, index=True),
    sa.Column("counsellor_id", sa.String(64), nullable=False),
    sa.Column("consent_version", sa.String(32), nullable=False),
    sa.Column("codename_key", sa.String(64), nullable=False, unique=True),
    sa.Column("sealed_key", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # Set when its owner or an administrator deleted it: hidden, restorable until the recovery
    # window (CHATSERVER_RECORD_RECOVERY_DAYS) is over, then purged. Added by revision 0004.
    sa.Column("deleted_at", sa.Float, nullable=True, index=True),
    # The visitor's own copy (revision 0011, docs/protocol.md "Continuity"): the public key the
    # widget derived from a reading code that never leaves it, and the record's transcript
    # sealed to that key by the console. None for records filed without one.
    sa.Column("reader_pk", sa.String(64), nullable=True),
    sa.Column("reader_body", sa.Text, nullable=True),
)

record_notes = sa.Table(
    "record_notes", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(32),
              sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("author_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

# What a chat added to its record after the hand-off (revision 0011): the later lines of the
# same chat and of every codename return, each entry sealed in the counsellor's browser to the
# team's records key (``body``, padded) and, if the record has a reader key, to it as well
# (``reader_body``), append-only. Written only by a holder of a grant for a
# chat linked to the record; erased with the record (withdrawal, purge).
record_entries = sa.Table(
    "record_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(32),
              sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("author_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("reader_body", sa.Text, nullable=True),
)

# Who did what to which record or grant, and when: ids, actions and times, never content nor
# anything of the visitor. No foreign key: the trail outlives the record it speaks of. Revision
# 0004 let record_id be empty (a list, a grant) or as long as an id on the wire (a refused try
# names what it tried), and added subject_id (the account a grant went to) and refused.
record_audit = sa.Table(
    "record_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(64), nullable=True, index=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=True),
    sa.Column("refused", sa.Boolean, nullable=False, server_default=sa.false()),
)

# A drop is found by the lookup value the widget derived from the drop code it made (revision
# 0006); drops left before that carry the slow hash of a codename the server made instead
# (``codename_key``) and cannot be answered any more (docs/protocol.md, "Message drop"). An
# answer is the sealed text, the answering counsellor's certificate and their signature.
# Since revision 0012 a row is one round of a thread: the rows of one lookup value, numbered
# from 1, each a visitor's message and its answer (with a copy sealed to the records key for
# the team); all rounds of a thread share ``expires``, moved on by every message and answer.
drops = sa.Table(
    "drops", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
    sa.Column("codename_key", sa.String(64), nullable=True, unique=True),
    sa.Column("sealed_key", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("reply_pk", sa.String(64), nullable=False),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("answered_at", sa.Float, nullable=True),
    sa.Column("lookup", sa.String(64), nullable=True),
    sa.Column("answer_certificate", sa.Text, nullable=True),
    sa.Column("answer_sig", sa.String(88), nullable=True),
    sa.Column("answered_by", sa.String(64), nullable=True),
    sa.Column("round", sa.Integer, nullable=False, server_default="1"),
    sa.Column("answer_team", sa.Text, nullable=True),
    sa.Index("ix_drops_lookup_round", "lookup", "round", unique=True),
)

# The team's records key: its public half with the organisation's certificate of it, and per
# counsellor the private half sealed to that counsellor's own X25519 "box" key, which their
# certified identity key signed (docs/protocol.md, "Records key", "Keys bound to
# identities"). Certificates and signatures are checked by the clients, not trusted here.
team_keys = sa.Table(
    "team_keys", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("certificate", sa.Text, nullable=True),  # revision 0005
    # Revision 0015 (docs/protocol.md, "Rotation of the records key"): the row named "records"
    # is the newest epoch; ``link`` is the previous epoch's secret sealed to this epoch's
    # public key, ``sealed_recovery`` this epoch's secret sealed to the recovery key
    # ``recovery_pk``. The row named "recovery" holds the recovery public key and the
    # organisation's certificate of it (its secret exists only on paper).
    sa.Column("epoch", sa.Integer, nullable=False, server_default="1"),
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("recovery_pk", sa.String(64), nullable=True),
    sa.Column("sealed_recovery", sa.Text, nullable=True),
)

# The epochs of the records key that a rotation retired (revision 0015), kept as they were:
# their public key and certificate, the link to the epoch before and the seal to the recovery
# key. Nothing sealed to them is re-encrypted; the newest epoch's secret opens them all.
records_epochs = sa.Table(
    "records_epochs", metadata,
    sa.Column("epoch", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("certificate", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("retired", sa.Float, nullable=False),
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("recovery_pk", sa.String(64), nullable=True),
    sa.Column("sealed_recovery", sa.Text, nullable=True),
)

# One row per counsellor and box key (revision 0007): a new device or browser adds its box key
# beside the old ones, each granted on its own; a grant is never voided by another key.
key_grants = sa.Table(
    "key_grants", metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("box_pk", sa.String(64), primary_key=True),
    sa.Column("sealed_records_sk", sa.Text, nullable=True),
    sa.Column("granted_by", sa.String(64), nullable=True),
    sa.Column("granted_at", sa.Float, nullable=True),
    sa.Column("box_sig", sa.String(88), nullable=True),
    sa.Column("certificate", sa.Text, nullable=True),
    sa.Column("registered", sa.Float, nullable=False, server_default="0"),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

users = sa.Table(
    "console_users", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("pseudonym", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("totp_secret", sa.String(64), nullable=False),
    sa.Column("totp_last_step", sa.BigInteger, nullable=False, default=0),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.Float, nullable=False, default=0.0),
    sa.Column("certificate", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    # Set by an administrator's password (``chatserver user add/reset``): the next sign-in
    # must choose a new one before anything else (revision 0007).
    sa.Column("password_once", sa.Boolean, nullable=False, server_default=sa.false()),
    # The language the console speaks to this account (vocabulary.Lang; revision 0014).
    sa.Column("language", sa.String(8), nullable=False, server_default="de"),
)

sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

canned = sa.Table(
    "console_canned", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)


# The console's wrapped key material from before revision 0007, sealed in the browser under a
# key derived from the sign-in password: read only, never written any more. Added by 0002.
user_keys = sa.Table(
    "console_user_keys", metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

# The console's wrapped identity and box keys (revision 0007): opaque to the server, several
# per account (one per unlock method and device), each added once and never replaced. What
# unlocks them (a passkey's PRF output, a key passphrase) stays in the browser.
key_wraps = sa.Table(
    "console_key_wraps", metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)


# Each counsellor's notification choices (revision 0013): whether a new request and a new
# message in a chat in the background ring and show a desktop notice. Booleans only, nothing
# of any chat; no row means every choice off.
counsellor_settings = sa.Table(
    "counsellor_settings", metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("request_sound", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("request_notice", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("message_sound", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("message_notice", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated", sa.Float, nullable=False),
)

# Passkeys (WebAuthn credentials) a counsellor registered as their second sign-in factor
# (revision 0010): the credential id and public key, and the signature counter the
# authenticator last reported. Deleted by their owner, and all at once when an administrator
# disables or resets the account.
passkeys = sa.Table(
    "console_passkeys", metadata,
    sa.Column("id", sa.String(1400), primary_key=True),  # the credential id, base64url
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("public_key", sa.Text, nullable=False),  # COSE, base64url
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_used", sa.Float, nullable=True),
)

# The challenge of one passkey ceremony (a sign-in attempt or a registration), stored under
# the SHA-256 of the attempt's token: good once, for a few minutes (revision 0010). In the
# database rather than in one node's memory, so any node can finish what another began.
passkey_challenges = sa.Table(
    "console_passkey_challenges", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=True),
    sa.Column("challenge", sa.String(128), nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
)

# -- statistics (chatserver.stats) --------------------------------------------------------

# One row per local day and counter, e.g. ("2026-11-24", "accepted|exit|de|1-2", 3).
stats_daily = sa.Table(
    "stats_daily", metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)

# One row per local week (its Monday), hour of that week (0 = Monday 0–1 h) and event.
stats_weekly = sa.Table(
    "stats_weekly", metadata,
    sa.Column("week", sa.String(10), primary_key=True),
    sa.Column("hour", sa.Integer, primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)
