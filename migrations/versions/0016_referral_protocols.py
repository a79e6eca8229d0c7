"""Referral protocols as versioned data per OCI (checklist, exams, CIDs, teleconsultation, tR/tM) and identification per SAES art. 11 (issue 16).

Table ``referral_protocol`` (``regula.catalog.models.ReferralProtocol``; decision 0020): one row per version of an
OCI's protocol, append-only (the trigger function of revision 0001). Version 1 of every OCI of the catalog present
now is the checklist regula asked until now, by SIGTAP subgroup (frozen here as data), with the teleconsultation
gate of the deployment's ``REGULA_TELECONSULT_FIRST_OCIS`` (empty by default) and tR/tM NULL (global defaults).
``waitlist_entry`` gains ``protocol_version`` and ``exams`` (what the referral was checked against).

Revision ID: 0016_referral_protocols
Revises: 0015_ressarcimento
Create Date: 2026-12-05
"""

import json
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_referral_protocols"
down_revision: str | Sequence[str] | None = "0015_ressarcimento"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CHECKLISTS = {
    "0901": (
        ("exame_de_imagem_anexado", "Exame de imagem ou laudo que motivou a suspeita anexado"),
        ("historico_clinico_registrado", "História clínica e exame físico registrados"),
    ),
    "0902": (
        ("ecg_anexado", "Eletrocardiograma recente anexado"),
        ("exames_laboratoriais_recentes", "Exames laboratoriais dos últimos seis meses anexados"),
    ),
    "0903": (
        ("exame_fisico_registrado", "Exame físico ortopédico registrado"),
        ("tratamento_conservador_realizado", "Tratamento conservador na APS já realizado (medicação, fisioterapia)"),
    ),
    "0904": (
        ("otoscopia_registrada", "Otoscopia registrada"),
        ("queixa_descrita", "Queixa e tempo de evolução descritos"),
    ),
    "0905": (("acuidade_visual_registrada", "Acuidade visual registrada"),),
    "0906": (
        ("ultrassonografia_previa", "Ultrassonografia pélvica ou transvaginal prévia anexada"),
        ("exame_ginecologico_registrado", "Exame ginecológico registrado"),
    ),
}
_DEFAULT = (("protocolo_de_acesso_atendido", "Critérios do protocolo de acesso da OCI atendidos"),)


def _teleconsult_first() -> frozenset[str]:
    raw = os.environ.get("REGULA_TELECONSULT_FIRST_OCIS", "").strip()
    if not raw:
        return frozenset()
    try:
        value = json.loads(raw)
    except ValueError:
        return frozenset()
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def upgrade() -> None:
    op.create_table(
        "referral_protocol",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("oci_code", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_referral_protocol_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_protocol")),
        sa.UniqueConstraint("oci_code", "version", name=op.f("uq_referral_protocol_oci_code_version")),
    )
    op.create_index(
        "ix_referral_protocol_oci_effective", "referral_protocol", ["oci_code", "effective_from"], unique=False
    )
    # A version is never changed: a manager's edit is a new version (decision 0020).
    op.execute(
        "CREATE TRIGGER referral_protocol_append_only BEFORE UPDATE OR DELETE ON referral_protocol "
        "FOR EACH ROW EXECUTE FUNCTION regula_refuse_change()"
    )
    op.add_column("waitlist_entry", sa.Column("protocol_version", sa.Integer(), nullable=True))
    op.add_column("waitlist_entry", sa.Column("exams", postgresql.JSONB(astext_type=sa.Text()), nullable=True))

    conn = op.get_bind()
    ocis = conn.execute(sa.text("SELECT DISTINCT code FROM catalog_oci ORDER BY code")).scalars().all()
    gated = _teleconsult_first()
    rows = [
        {
            "oci_code": code,
            "content": json.dumps(
                {
                    "checklist": [
                        {"key": key, "label": label, "required": True}
                        for key, label in _CHECKLISTS.get(code[:4], _DEFAULT)
                    ],
                    "required_exams": [],
                    "accepted_cids": [],
                    "priority_hints": [],
                    "teleconsultation_required": code in gated,
                    "tr_days": None,
                    "tm_days": None,
                },
                ensure_ascii=False,
            ),
        }
        for code in ocis
    ]
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO referral_protocol (oci_code, version, effective_from, content, created_by, reason,"
                " created_at) VALUES (:oci_code, 1, DATE '2024-01-01', CAST(:content AS jsonb), 'regula',"
                " 'Versão inicial: checklist por subgrupo usado pelo regula até a migração 0016', now())"
            ),
            rows,
        )


def downgrade() -> None:
    op.drop_column("waitlist_entry", "exams")
    op.drop_column("waitlist_entry", "protocol_version")
    op.drop_index("ix_referral_protocol_oci_effective", table_name="referral_protocol")
    op.drop_table("referral_protocol")
