"""Helpers for the cache tests: a pickle payload that leaves a marker, and running work in parallel processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from typing import Any, Callable, Sequence


class Payload:
    """Unpickling this object runs ``touch <marker>``: a stand-in for any code an attacker would run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant_pickle(path: str, marker: str) -> None:
    """Write a pickle payload under ``path`` (as ``torch.save`` would, a pickle inside)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump({"payload": Payload(marker)}, handle)


def _call(barrier, fn, args, queue, rank):
    try:
        barrier.wait(timeout=120)
        queue.put((rank, "ok", fn(*args)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent
        import traceback

        queue.put((rank, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def run_in_processes(fn: Callable[..., Any], args: Sequence[tuple], timeout: float = 600) -> list[Any]:
    """Run ``fn(*args[i])`` in ``len(args)`` fresh (spawned) processes released by one barrier, so
    they race; return their results in order. Any failure in a child fails the caller with its
    traceback."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=_call, args=(barrier, fn, a, queue, i)) for i, a in enumerate(args)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    errors = []
    try:
        for _ in procs:
            rank, status, value = queue.get(timeout=timeout)
            if status == "ok":
                results[rank] = value
            else:
                errors.append(f"process {rank}: {value}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    if errors:
        raise AssertionError("\n".join(errors))
    return [results[i] for i in range(len(args))]
