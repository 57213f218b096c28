"""Accounts, server-side sessions, sign-in attempts, the hash-chained audit log; witness codes
and narratives encrypted at rest (existing plaintext is encrypted in place with the instance
keys, then the plaintext columns are dropped).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("totp_enc", sa.LargeBinary),
        sa.Column("totp_last_step", sa.Integer, nullable=False),
        sa.Column("recovery_hashes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_login_attempts_user_ts", "login_attempts", ["username", "ts"])
    op.create_index("ix_login_attempts_addr_ts", "login_attempts", ["address", "ts"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log BEGIN
                  SELECT RAISE(ABORT, 'the audit log is append-only');
                END""")
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
              ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""")

    # -- testimonies: encrypt witness codes and narratives ---------------------------------
    op.add_column("testimonies", sa.Column("witness_enc", sa.LargeBinary))
    op.add_column("testimonies", sa.Column("witness_ref", sa.String(32)))
    op.add_column("testimonies", sa.Column("narrative_enc", sa.LargeBinary))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, key, witness_code, narrative FROM testimonies")).all()
    if rows:
        keys = context.config.attributes.get("keys")
        if keys is None:
            raise RuntimeError("0003 encrypts existing testimonies: run it through geomap, "
                               "which supplies the instance keys")
        from geomap.crypto import FieldCipher

        cipher = FieldCipher(keys)
        conn.execute(
            sa.text("UPDATE testimonies SET witness_enc = :w, witness_ref = :r, "
                    "narrative_enc = :n WHERE id = :id"),
            [{"id": r.id,
              "w": cipher.encrypt(r.witness_code, "testimonies", r.key, "witness_code"),
              "r": cipher.blind_index(r.witness_code, "witness"),
              "n": cipher.encrypt(r.narrative, "testimonies", r.key, "narrative")}
             for r in rows])
    op.drop_index("ix_testimonies_witness", "testimonies")
    # SQLite >= 3.35 drops columns in place, keeping the R*Tree triggers on this table
    op.execute("ALTER TABLE testimonies DROP COLUMN witness_code")
    op.execute("ALTER TABLE testimonies DROP COLUMN narrative")
    op.create_index("ix_testimonies_witness_ref", "testimonies", ["witness_ref"])
    op.create_index("ix_testimonies_tier", "testimonies", ["tier"])


def downgrade() -> None:
    raise NotImplementedError("0003 cannot be undone: it would write narratives back in clear")
