"""The ``Sandbox`` settings, configurable in ``nbgrader_config.py`` (``c.Sandbox.memory_mb = 2048`` …)
and shared by ``nbgrader autograde`` and ``autograder autograde``."""

from __future__ import annotations

from traitlets import Bool, Enum, Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from autograder.probe.contract import DEFAULT_CALL_SECONDS

from .limits import Limits


class Sandbox(LoggingConfigurable):
    enabled = Bool(True, help="Confine students' kernels (strongly recommended).").tag(config=True)
    require = Enum(["none", "landlock", "full"], "full",
                   help="Refuse to grade on a host that confines kernels less than this: 'full' (namespaces "
                        "and Landlock, the default), 'landlock', or 'none' (an explicit opt-in to grading "
                        "with rlimits only).").tag(config=True)
    warm_kernels = Bool(True, help="Fork each kernel from a warm parent that has imported torch (a tenth of a "
                        "second) instead of starting a new interpreter (seconds); the kernel is confined the "
                        "same way.").tag(config=True)
    network = Bool(False, help="Let kernels use the network (off: a private, empty network namespace).").tag(
        config=True)
    memory_mb = Integer(3072, help="Address-space limit per kernel, MiB.").tag(config=True)
    cpu_seconds = Integer(600, help="CPU-time limit per kernel, seconds.").tag(config=True)
    max_processes = Integer(64, help="Processes and threads per kernel.").tag(config=True)
    max_file_mb = Integer(64, help="Largest file a kernel may write, MiB.").tag(config=True)
    max_open_files = Integer(512, help="Open files per kernel.").tag(config=True)
    disk_mb = Integer(512, help="Disk space per kernel, MiB (a private tmpfs; needs namespaces).").tag(config=True)
    notebook_seconds = Integer(900, help="Wall time per notebook, seconds (cells beyond it are not run).").tag(
        config=True)
    output_kb = Integer(2048, help="Output kept per cell, KiB (the rest is dropped).").tag(config=True)
    notebook_output_kb = Integer(
        8192, help="Output kept for all of a notebook's cells together, KiB (the rest is dropped; the autograder "
        "test cells are capped per cell only).").tag(config=True)
    submission_mb = Integer(20, help="Largest submitted notebook file, MiB; a larger one is set aside unread "
                            "and graded zero.").tag(config=True)
    call_seconds = Float(DEFAULT_CALL_SECONDS,
                         help="CPU-time limit of one call of a student's function by a hidden test "
                         "(a call that only waits is stopped after 4x as much wall time).").tag(config=True)
    extra_read_paths = List(Unicode(), help="More paths kernels may read (e.g. a shared data set).").tag(
        config=True)

    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds, max_processes=self.max_processes,
                      max_file_mb=self.max_file_mb, max_open_files=self.max_open_files)
