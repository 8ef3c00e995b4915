"""The session store's tables, as SQLAlchemy 2.0 typed models.

Plain columns only (no ORM relationships): every query lives in the store modules (``sessions``, ``jobs``, ...) and runs
in one short async transaction, so nothing here can trigger an implicit lazy load.
Timestamps are timezone-aware UTC on the way in and out, also on SQLite (which stores
them without an offset). The migration in ``migrations/versions`` creates exactly this
schema; ``tests/test_migrations.py`` checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.session import FEEDBACK_GROUPS, ImageState

# Deterministic constraint names: Alembic needs them to drop or alter constraints
# (SQLite batch mode included) and they must match between the ORM and the migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL_JOB_STATUSES = ("done", "failed", "cancelled")
ROLES = ("user", "assistant")
WHO_CAN_TALK = ("owner", "anyone")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes and refuses
    naive ones on the way in (a naive time is ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(timezone.utc)")
        value = value.astimezone(UTC)
        # SQLite stores text: keep the same format for every row so comparisons order right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Session(Base):
    """One dialogue: a Discord thread, or a terminal conversation."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("platform", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    guild_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The thread id; unique with platform when set (NULLs never collide).
    channel_id: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The session's images as ``engine.session.ImageState``: the image that edits default
    # to, how many are numbered (#1..#count) and the history undo walks back through.
    current_image_number: Mapped[int | None] = mapped_column(Integer)
    image_count: Mapped[int] = mapped_column(Integer, default=0)
    image_history: Mapped[list[Any]] = mapped_column(default=list)

    @property
    def images(self) -> ImageState:
        return ImageState(self.image_count, self.current_image_number, tuple(self.image_history or ()))

    @images.setter
    def images(self, state: ImageState) -> None:
        self.image_count, self.current_image_number = state.count, state.current
        self.image_history = list(state.history)


class Turn(Base):
    __tablename__ = "turns"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        Index("ix_turns_session_id_id", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Assistant turns: the job that produced them. use_alter: jobs also reference turns.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", use_alter=True), index=True)
    # Assistant turns: the executed IntentionParam (intent, params, response).
    intent: Mapped[dict[str, Any] | None] = mapped_column()
    # Set on the assistant turn of a failed job; such turns are left out of the dialogue.
    error: Mapped[str | None] = mapped_column(Text)
    # Assistant turns: exactly what the IRPEM read ({"dialogue", "current_image", "enabled"},
    # engine.irpem.pairs.PairContext), so feedback on the turn becomes a training pair.
    context: Mapped[dict[str, Any] | None] = mapped_column()
    # A/B turns: each candidate (``engine.session.Candidate.to_dict()``), A first; the
    # turn's intent/text are those of the chosen one, ``chosen`` (A, 0, until a choice).
    candidates: Mapped[list[Any] | None] = mapped_column()
    chosen: Mapped[int | None] = mapped_column(Integer)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("session_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # #n, 1-based, in order of appearance
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)  # bytes
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))  # "png", "jpeg", ...
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"), index=True)  # producing turn
    parent_number: Mapped[int | None] = mapped_column(Integer)  # lineage: derived from #parent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        Index("ix_jobs_status_available_at", "status", "available_at"),
        Index("ix_jobs_user_id_claim_seq", "user_id", "claim_seq"),
        Index("ix_jobs_session_id_status", "session_id", "status"),
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),  # the daily quota
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"))  # the user turn it answers
    user_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # Until the job first runs: its order (``engine.session.JobOrder``); from then on the
    # whole ``JobRequest`` it was run with, built once.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The recorded result (``bot.store.jobs.StoredResult.to_dict()``).
    result: Mapped[dict[str, Any] | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # the last error (also of retried attempts)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)  # not claimable before
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # Global claim order (1, 2, ...): the round-robin serves the user whose latest claim
    # is oldest, so one user's burst cannot starve the others.
    claim_seq: Mapped[int | None] = mapped_column(Integer)
    # The front end's message that shows this job (a Discord message id): edited as the job
    # moves, and found again after a restart to deliver the result of a resumed job.
    reply_message_id: Mapped[str | None] = mapped_column(String(32))


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("turn_id", "user_id", "kind_group"),
        CheckConstraint(_in("kind", tuple(FEEDBACK_GROUPS)), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    kind_group: Mapped[str] = mapped_column(String(16))  # FEEDBACK_GROUPS[kind]
    candidate: Mapped[int | None] = mapped_column(Integer)  # A/B: which candidate image
    payload: Mapped[dict[str, Any] | None] = mapped_column()  # e.g. a correction's text/intent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GuildSettings(Base):
    __tablename__ = "guild_settings"
    __table_args__ = (CheckConstraint(_in("who_can_talk", WHO_CAN_TALK), name="who_can_talk"),)

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled_pipelines: Mapped[list[Any] | None] = mapped_column()  # None = config defaults
    pipeline_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)  # id -> defaults
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # overrides of [limits]
    who_can_talk: Mapped[str] = mapped_column(String(16), default="owner")
    ab_probability: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
