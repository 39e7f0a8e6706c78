"""Tables of the survey-to-inventory workflow: a person's decision on each finding, and candidate sightings.

Findings are re-derived from the surveys whenever they are read (the survey document's coded
findings, the rows ingestion wrote, the planned cameras a survey found): a decision is kept
apart, keyed by the survey and a digest of what the finding says (``inventory.workflow``), so an
applied or dismissed finding stays so however often the survey is read again.  A candidate seen
by a later pending survey is one candidate with one more sighting, not a second candidate.
``inventory.db`` imports this module so the tables are part of ``Base.metadata``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sitescout.inventory.models import Base, UtcDateTime, ValidationError, utcnow

__all__ = ["FindingDecision", "CandidateSighting", "DECISION_STATES"]

#: What a person decided about a finding (an undecided finding is "open").
DECISION_STATES = ("applied", "dismissed")


class FindingDecision(Base):
    """A finding applied or dismissed: which survey, which finding (its key), by whom, why; its words as codes."""

    __tablename__ = "finding_decisions"
    __table_args__ = (UniqueConstraint("survey_id", "finding_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    #: A digest of the finding's code, host and parameters (stable across re-reading the survey).
    finding_key: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(45), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    def validate(self) -> None:
        """Check the state and the reason's length."""
        if self.state not in DECISION_STATES:
            raise ValidationError("state", f"{self.state!r} is not one of: {', '.join(DECISION_STATES)}")
        if len(self.reason or "") > 1000:
            raise ValidationError("reason", "is longer than 1000 characters; say it in fewer words")


class CandidateSighting(Base):
    """A later survey found a pending candidate's device again (same MAC, endpoint, or IP without a MAC)."""

    __tablename__ = "candidate_sightings"
    __table_args__ = (UniqueConstraint("candidate_id", "survey_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(45))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
