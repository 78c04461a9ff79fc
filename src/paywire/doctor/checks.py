"""What `paywire doctor` says about one thing: pass, warn or fail, why, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, WARN, FAIL = "pass", "warn", "fail"
# A health signal scores 1 when it passes, half when it warns, 0 when it fails.
POINTS = {PASS: 1.0, WARN: 0.5, FAIL: 0.0}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    priority: str = ""  # P0 | P1 | P2, for the go-live checklist

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}
        if self.priority:
            found["priority"] = self.priority
        return found


@dataclass
class Diagnosis:
    mode: str  # test | live
    app_url: str
    signals: list[Check] = field(default_factory=list)
    security: list[Check] = field(default_factory=list)
    go_live: list[Check] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(POINTS[c.status] for c in self.signals)

    @property
    def failed_p0(self) -> list[Check]:
        return [c for c in self.go_live if c.priority == "P0" and c.status == FAIL]

    @property
    def ok(self) -> bool:
        """Below 5 of 8, or a P0 of the go-live checklist failing: stop and fix."""
        return self.score >= 5 and not self.failed_p0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "app_url": self.app_url,
            "score": self.score,
            "out_of": len(self.signals),
            "ok": self.ok,
            "signals": [c.as_dict() for c in self.signals],
            "security": [c.as_dict() for c in self.security],
            "go_live": [c.as_dict() for c in self.go_live],
        }


def judged(name: str, good: bool, detail: str, fix: str, *, otherwise: str = FAIL, priority: str = "") -> Check:
    """A check that passes when `good`, else is `otherwise` (fail or warn) with its fix."""
    return Check(name, PASS if good else otherwise, detail, "" if good else fix, priority)
