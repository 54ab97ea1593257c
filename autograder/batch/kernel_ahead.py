"""The next notebook's kernel, started while the current one is graded.

A worker that sees at least as many notebooks waiting as there are workers (so each other worker still
finds one) takes its next job early and, as soon as its current kernel answers, starts that job's kernel:
the fork from the zygote, the confinement and ipykernel's own start-up then run while the current
notebook's cells do, and the next notebook finds its kernel ready. When fewer wait, nothing is taken
early: no worker holds a job another could start.

The early kernel is started exactly as nbclient starts a kernel (``async_start_new_kernel``: the same
Execute class and configuration, kernel name, arguments and working folder), and handed to a notebook only
if that notebook asks for exactly that kernel; otherwise it is stopped and the notebook starts its own.
It is confined from its first instruction like every kernel, and runs no code until its own notebook
does: the only difference is when it started.
"""

from __future__ import annotations

import dataclasses
import queue
from dataclasses import dataclass

from jupyter_core.utils import ensure_event_loop, run_sync

_NOTHING = object()   # no job taken early


@dataclass(frozen=True)
class KernelKey:
    """What a notebook's kernel is started with: equal keys, interchangeable kernels."""

    kernel_name: str | None
    extra_arguments: tuple[str, ...]
    cwd: str | None


def requested_key(client) -> KernelKey:
    """The kernel an Execute preprocessor (an nbclient ``NotebookClient``) is about to start, read as
    nbclient reads it (``create_kernel_manager``, ``async_start_new_kernel``)."""
    name = client.kernel_name or client.nb.metadata.get("kernelspec", {}).get("name") or None
    resources = client.resources if isinstance(client.resources, dict) else {}
    return KernelKey(name, tuple(client.extra_arguments), resources.get("metadata", {}).get("path") or None)


class KernelAhead:
    """One worker's early kernel: at most one, for the job it took early."""

    def __init__(self, jobs, workers: int) -> None:
        self._jobs = jobs
        self._workers = max(1, workers)
        self._early = _NOTHING          # the job taken early (None: the queue's stop sentinel)
        self._starting = None           # the task starting the early kernel, on this thread's event loop
        self._spare = None              # (job, key, kernel manager, its connected client)
        self.started_ahead = 0          # kernels started for a job taken early
        self.handed_over = 0            # ...that their notebook took
        self.stopped_unused = 0         # ...that were stopped instead (their notebook failed first, or asked
                                        # for another kernel)

    def has_early_job(self) -> bool:
        return self._early is not _NOTHING

    def next_job(self, before_waiting=None):
        """The worker's next job: the one taken early, if any, else the queue's next; ``before_waiting()`` is
        called first if the queue has none yet (the worker tidies up before it idles)."""
        if self._early is not _NOTHING:
            job, self._early = self._early, _NOTHING
            return job
        try:
            return self._jobs.get_nowait()
        except queue.Empty:
            pass
        if before_waiting is not None:
            before_waiting()
        return self._jobs.get()

    def attach(self, client, job) -> None:
        """Make an Execute preprocessor grading ``job`` take the kernel started for it, and start the next
        job's kernel once its own kernel answers."""
        create = client.create_kernel_manager
        start_client = client.start_new_kernel_client
        asked: list[KernelKey] = []

        def create_kernel_manager():
            asked.append(requested_key(client))
            km = self._take(job, asked[-1])
            if km is None:
                return create()
            client.km = km
            return km

        def start_new_kernel_client():
            kc = start_client()
            if asked:
                self._start_next(client, asked[-1])
            return kc

        client.create_kernel_manager = create_kernel_manager
        client.start_new_kernel_client = start_new_kernel_client

    def finish(self, job) -> None:
        """After ``job``: stop its early kernel if its notebook never took it (it failed before executing)."""
        self._settle()
        if self._spare is not None and self._spare[0] is job:
            self.drop()

    def drop(self) -> None:
        """Stop the early kernel, if there is one (the worker is ending)."""
        self._settle()
        spare, self._spare = self._spare, None
        if spare is not None:
            _stop(spare[2], spare[3])
            self.stopped_unused += 1

    # ------------------------------------------------------------------ inside

    def _settle(self) -> None:
        """Let the early kernel's start finish (it runs while the event loop does: during the cells)."""
        task, self._starting = self._starting, None
        if task is not None:
            run_sync(_awaited)(task)

    def _take(self, job, key: KernelKey):
        self._settle()
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        spare_job, spare_key, km, kc = spare
        if spare_job is job and spare_key == key and run_sync(km.is_alive)():
            km.client = _Once(km.client, kc)
            self.handed_over += 1
            return km
        _stop(km, kc)
        self.stopped_unused += 1
        return None

    def _start_next(self, client, asked: KernelKey) -> None:
        if self._spare is not None or self._starting is not None or self._early is not _NOTHING:
            return
        try:
            if self._jobs.qsize() < self._workers:
                return
            self._early = self._jobs.get_nowait()
        except (queue.Empty, NotImplementedError):
            return
        job = self._early
        if job is None:
            return
        key = dataclasses.replace(asked, cwd=job.workdir)
        try:
            early = type(client)(parent=client.parent)
            early.kernel_manager_class = client.kernel_manager_class
            early.shutdown_kernel = client.shutdown_kernel
            early.kernel_name = key.kernel_name or ""
            early.extra_arguments = list(key.extra_arguments)
            early.resources = {"metadata": {"path": job.workdir}}
            km = early.create_kernel_manager()
        except Exception:  # noqa: BLE001 (never the current notebook's failure: the job is graded next, as usual)
            return
        self.started_ahead += 1
        self._starting = ensure_event_loop().create_task(self._start(early, km, job, key))

    async def _start(self, early, km, job, key: KernelKey) -> None:
        """Start the kernel as nbclient does, and connect a client to it (the connection completes while the
        kernel starts, so the notebook's first request finds every channel subscribed)."""
        try:
            await early.async_start_new_kernel()
            kc = km.client()
            kc.start_channels()
        except Exception:  # noqa: BLE001 (the notebook will start its own kernel, and report what fails)
            await _stop_async(km, None)
            return
        self._spare = (job, key, km, kc)


class _Once:
    """A kernel manager's ``client()`` that returns the client connected ahead, once; its channels are already
    started, so nbclient's ``start_channels()`` on it does nothing."""

    def __init__(self, make, kc) -> None:
        self._make, self._kc = make, kc

    def __call__(self, *args, **kwargs):
        kc, self._kc = self._kc, None
        if kc is None:
            return self._make(*args, **kwargs)
        kc.start_channels = _started
        return kc


def _started(*args, **kwargs) -> None:
    return None


async def _awaited(task) -> None:
    await task


def _stop(km, kc) -> None:
    run_sync(_stop_async)(km, kc)


async def _stop_async(km, kc) -> None:
    try:
        if kc is not None:
            kc.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
        else:
            await km.cleanup_resources()
    except Exception:  # noqa: BLE001 (stopping a kernel nobody uses: the zygote ends it at the latest)
        pass
