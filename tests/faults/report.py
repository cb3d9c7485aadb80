"""The fault suite's figures, and whether the run kept every promise."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Report:
    driven: int
    accepted: int
    retried: int
    refused_503: int
    failed_posts: int
    redelivered: int
    rejected: list[str]
    abandoned: int
    lost: list[tuple[str, str]]
    duplicated: int
    split_threads: int
    unsettled_tickets: int
    tickets: int
    assigned: int
    queued: int
    multi_assigned: int
    # (fault, messages driven when it began, its length or time to ready, time to routed)
    recoveries: list[tuple[str, int, float, float]]
    settled_after: float
    exits: dict[str, int]  # processes that exited by themselves (and were started again)
    # staff replies (with --replies): acknowledged by the API, given up after 2 min, posted
    # again with their key (after a 503 or a lost answer), refused otherwise, acknowledged but
    # never sent, sent more than once
    replies: int = 0
    replies_unknown: int = 0
    replies_retried: int = 0
    replies_refused: tuple[str, ...] = ()
    replies_missing: int = 0
    replies_twice: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.split_threads or self.unsettled_tickets
                    or self.rejected or self.replies_refused or self.replies_missing
                    or self.replies_unknown or self.replies_twice)

    def lines(self) -> list[str]:
        out = [
            f"messages driven {self.driven}, accepted {self.accepted}, retried {self.retried} "
            f"({self.refused_503} answers 503, {self.failed_posts} resets/timeouts), "
            f"delivered twice by the provider {self.redelivered}, never acknowledged "
            f"{self.abandoned}, refused with a 4xx {len(self.rejected)}",
            f"lost {len(self.lost)} (must be 0), duplicated {self.duplicated} (must be 0), "
            f"threads on more than one ticket {self.split_threads} (must be 0)",
            f"tickets {self.tickets}: assigned {self.assigned} (answered ones included), "
            f"queued {self.queued}, neither "
            f"{self.unsettled_tickets} (must be 0); tickets with more than one assignment "
            f"{self.multi_assigned}; settled {self.settled_after:.1f}s after the last 2xx",
        ]
        if self.replies or self.replies_unknown or self.replies_refused:
            out.append(f"staff replies acknowledged {self.replies} (posted again with "
                       f"their key after a 503 or a lost answer {self.replies_retried}, given up "
                       f"after 2 min {self.replies_unknown} (must be 0), refused "
                       f"{len(self.replies_refused)}): never sent {self.replies_missing} (must "
                       f"be 0), sent more than once {self.replies_twice} (must be 0)")
        for what, at, took, routed in self.recoveries:
            when = f"at message {at} of {self.driven}" if at < self.driven else "after the drive"
            if what == "pg-restart":
                out.append(f"PostgreSQL restarted (fast shutdown), {when}: answering again after "
                           f"{took:.1f}s, a new message routed {routed:.1f}s after the stop "
                           f"began")
            elif what == "kafka-restart":
                out.append(f"Kafka broker restarted, {when}: answering again after {took:.1f}s, "
                           f"a new message routed {routed:.1f}s after the stop began")
            elif what.startswith(("db-", "kafka-")):
                out.append(f"{what} for {took:.1f}s, {when}: a new message routed "
                           f"{routed:.1f}s after the fault began")
            else:
                out.append(f"kill -9 {what}, {when}: restarted and ready after {took:.1f}s, a "
                           f"new message routed {routed:.1f}s after the kill")
        exited = ", ".join(f"{name} {n}×" for name, n in sorted(self.exits.items()))
        out.append(f"processes that exited by themselves and were started again: "
                   f"{exited or 'none'}")
        out += [f"  rejected: {r}" for r in self.rejected[:10]]
        out += [f"  reply refused: {r}" for r in self.replies_refused[:10]]
        out += [f"  lost: {c} {e}" for c, e in self.lost[:10]]
        return out
