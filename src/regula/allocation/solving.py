"""The CPU-bound part of an allocation run, run in a worker process of the jobs process (decision 9).

Pure: it receives the run's canonical instance (the bytes stored with the run) and gives back the optimizer's
solution, the greedy baseline's and the validator's verdict. No database, no session, nothing but the optimizer
package is imported here, so a worker process started with ``spawn`` loads little; the inputs and the answer
cross the process boundary by pickling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from regula.core import collector
from regula.optimizer.flow import solve
from regula.optimizer.greedy import solve_greedy
from regula.optimizer.instance import Instance, Solution, load_instance
from regula.optimizer.problem import escalate, from_instance
from regula.optimizer.validate import validate


@dataclass(frozen=True)
class Solved:
    solution: Solution
    greedy: Solution
    violations: int
    wall_seconds: float


def solve_instance(canonical: bytes, instance: Instance | None = None) -> Solved:
    """Solve, validate, and solve greedily for comparison: what a run stores about its answer.

    ``instance``: the object ``canonical`` was written from, when the caller runs in the process that built it
    (``service.solve_queued_now``): the file is not parsed a second time (issue 18 item 7: a million entries parsed
    again took seconds and a second copy of them in memory). A worker process gets only the bytes."""
    # Millions of short-lived objects, no cycles among them: the cyclic collector's passes over the instance's
    # million entries cost a quarter of the solve at that size (regula.core.collector; docs/benchmarks.md).
    with collector.paused():
        if instance is None:
            instance = load_instance(canonical)
        started = time.perf_counter()
        # The instance's columns (a representation, no rule applied) are made once for the solver and the
        # preparation below: ~2.5 s each at a million entries (docs/benchmarks.md, the weekly cycle's allocate phase).
        columns = from_instance(instance)
        solution = solve(instance, columns=columns)
        elapsed = time.perf_counter() - started
        # The validator and the greedy baseline start from the same preparation (escalated scopes); made once, it
        # is the instance's own, never the solver's structures (issue 18 item 7: seconds each at a million entries).
        preparation = escalate(instance, columns=columns)
        violations = validate(instance, solution, preparation=preparation)
        greedy = solve_greedy(instance, preparation=preparation)
    return Solved(solution, greedy, len(violations), elapsed)
