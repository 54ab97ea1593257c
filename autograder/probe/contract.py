"""Every name the pieces of the grader must agree on, written down once.

The probe writes records and errors in the student's kernel; the judge, the nbgrader plugins, the batch
grader, Gradescope and the reports read them, together with what the grader itself writes into a graded
notebook (its outputs and metadata). Each side imports these names from here, so no side recognises
anything we wrote by repeating its text.

This module is part of ``autograder/probe``, which a sandboxed kernel receives a copy of: it uses the
standard library only and holds no answer, no reference and nothing a student could profit from reading.
"""

from __future__ import annotations

from dataclasses import dataclass

# ====================================================================== records: kernel -> judge

MIME_TYPE = "application/vnd.autograder.probe+json"  # the display output that carries one record
RECORD_VERSION = 1                                    # record["v"]

# The fields the probe may write; anything else in a record is a forgery.
RECORD_KEYS = frozenset({"v", "scenario", "function", "status", "inputs_before", "inputs_after", "calls",
                         "observed", "probe_error", "grade_id"})
CALL_KEYS = frozenset({"value", "error", "autograd", "printed", "seconds", "method", "saved"})
# call["autograd"]: reverse passes (backward / autograd.grad calls, also inside torch.func), per entry point,
# and the directions they carried in all (a pass on a vmapped or is_grads_batched cotangent carries several).
# "cuts": the graph was cut and a gradient went missing because of it (``probe.graph_cuts``), each
# {via, where, symptom}: via CUT_VIA, on a leaf or an intermediate result (CUT_WHERE), seen as CUT_SYMPTOMS.
AUTOGRAD_KEYS = frozenset({"reverse", "names", "directions", "cuts"})
CUT_KEYS = frozenset({"via", "where", "symptom"})
CUT_VIA = ("detach", "data", "no_grad")
CUT_WHERE = ("leaf", "intermediate")
CUT_SYMPTOMS = ("grad_none", "unreached_input", "detached_root")
MAX_CUTS = 4
# call["saved"]: the tensors autograd saved for the backward pass while the call ran (``monitors.SavedTensors``),
# present only in the scenarios that ask for it (``Scenario.measure_saved``): how many were packed and their
# bytes in all, the bytes still held when the call returned (by the graph of its result) and the most held
# at any moment. Bytes are numel × element size of each packed tensor, as autograd handed it over.
SAVED_KEYS = frozenset({"tensors", "bytes", "kept", "peak"})
PRINTED_KEYS = frozenset({"stdout", "stderr", "warnings", "n_warnings"})  # call["printed"]
TENSOR_KEYS = frozenset({"t", "type", "shape", "dtype", "device", "requires_grad", "is_leaf", "grad_fn",
                         "unreadable", "b64", "grad", "grad_id"})
ERROR_KEYS = frozenset({"t", "type", "module", "message", "frames"})
FRAME_KEYS = frozenset({"line", "function", "code"})                   # error["frames"][i]

# call["method"]: how the student's code used a test function of ours (``probe.method_tap``), present when
# the call evaluated one. Facts only; ``judge.method`` decides what they mean.
#   evaluations       distinct kinds of evaluation of the test function, each {shape, samples, ad, count}:
#                     the logical shape of its (first) tensor argument, how many samples a vmap pushed
#                     through it at once (1 without vmap), the AD tracking it (AD_STATES) and how often;
#   more_evaluations  evaluations beyond the first MAX_EVALUATION_KINDS kinds, not itemised;
#   reverse           reverse sweeps that reached the argument, per order, each {order, directions, sweeps}:
#                     order 1 is a sweep through the function, order 2 a sweep through the backward of an
#                     order-1 sweep (double backward), and so on; directions counts the cotangents they
#                     carried in all (one per sweep, times the vmap batch sizes that do not batch the samples);
#   forward           forward-mode tangents that reached it, per order (0: through the function; 1: through
#                     its backward, forward-over-reverse), counted alike;
#   legacy_batched    some directions came batched by the older vmap (is_grads_batched, functional.jacobian
#                     with vectorize=True);
#   incomplete        inspecting a tensor failed at least once (a torch release changed an API): the counts
#                     may be wrong, and the judge makes no finding from them.
METHOD_KEYS = frozenset({"evaluations", "more_evaluations", "reverse", "forward", "legacy_batched", "incomplete"})
EVALUATION_KEYS = frozenset({"shape", "samples", "ad", "count"})       # call["method"]["evaluations"][i]
SWEEP_KEYS = frozenset({"order", "directions", "sweeps"})              # call["method"]["reverse" | "forward"][i]
AD_STATES = ("none", "reverse", "forward", "both")                     # evaluation["ad"]
MAX_EVALUATION_KINDS = 16
MAX_SWEEP_ORDER = 8


class Status:
    """``record["status"]``: how far a scenario got."""

    DONE = "done"
    MISSING = "missing"                # the function is not defined
    NOT_CALLABLE = "not_callable"      # the name is bound to something that cannot be called
    TIMEOUT = "timeout"                # a call ran out of time (or an earlier one did, in this kernel)
    PROBE_ERROR = "probe_error"        # the probe itself failed (e.g. torch was monkeypatched)


STATUSES = (Status.DONE, Status.MISSING, Status.NOT_CALLABLE, Status.TIMEOUT, Status.PROBE_ERROR)

RESULT_LABEL = "result"  # the label of a scenario's default call (``scenario.call_once``)

# dtypes whose values travel in a record, as the names of torch attributes (``getattr(torch, name)``);
# a tensor of any other dtype is described, not copied.
DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
               "complex64", "complex128")

# The grader tells the kernel the time limit of one call through this environment variable.
CALL_SECONDS_ENV = "AUTOGRADER_CALL_TIMEOUT"
DEFAULT_CALL_SECONDS = 10.0

# ====================================================================== errors raised in the kernel
# The judge recognises them by the type name a record carries (``type(exc).__name__``), never by text.


class ProbeTimeout(BaseException):
    """Raised inside a student's function that runs past its time limit.

    A BaseException, so that ``except Exception`` in student code does not swallow it.
    """


class ForwardModeOnly(RuntimeError):
    """Raised by the backward pass of a test function that supports forward-mode AD only
    (``autograder.probe.library.ForwardOnly``): the student's code used reverse mode."""


class ReverseModeOnly(RuntimeError):
    """Raised by the forward-mode rule of a test function that supports reverse-mode AD only
    (``autograder.probe.library.ReverseOnly``): the student's code used forward mode."""


class RecordingFinished(Exception):
    """Ends a test cell once its records are written: during grading the visible asserts that follow
    would only repeat (or, for a function that never returns, hang on) what the probe already saw."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it: this one line, not a formatted traceback (≈25 ms, twice, in every
        test cell of every graded notebook)."""
        return [f"{type(self).__name__}: {self}"]


# The autograd.Function behind ``ReverseOnly``. torch names it in its own message when it is vmapped
# without a vmap rule ("You tried to vmap over <name>, but it does not have vmap support").
REVERSE_ONLY_FUNCTION = "_ReverseOnlyTanh"
VMAP_OVER_REVERSE_ONLY = f"vmap over {REVERSE_ONLY_FUNCTION}"

# ====================================================================== the instructor path
# Not recording (a source notebook run by an instructor, ``nbgrader validate``), ``run_suite`` judges on
# the spot with this function, imported by name (importlib) only then: while recording, the probe never
# imports the judge, and a sandboxed kernel has none to import.
LOCAL_JUDGE = "autograder.judge.local:judge_here"

# ====================================================================== what the grader writes into a notebook

METADATA_KEY = "autograder"   # cell metadata: the judge's summary; notebook metadata: the submission check's
UNREADABLE = "unreadable"     # notebook metadata[METADATA_KEY][UNREADABLE]: why the submission could not be read


class Summary:
    """Fields of the summary the judge stores in a test cell's metadata (``CellVerdict.summary``), read by
    the batch summary, Gradescope and the class report."""

    GRADE_ID = "grade_id"
    FUNCTION = "function"
    SCORE = "score"
    POINTS = "points"
    NOTES = "notes"
    MISCONCEPTIONS = "misconceptions"
    CHECKS = "checks"


# Written at the end of a cell's output when the output budget dropped the rest.
OUTPUT_TRUNCATED = "[output truncated:"


@dataclass(frozen=True)
class StopReason:
    student: str | None   # in the test cell's feedback; None: "the cell raised <name>: <message>"
    instructor: str       # a line of the batch summary


# Error outputs (``ename``) that say a cell, or the notebook, stopped early. They are written by
# nbgrader's Execute (CELL_TIMEOUT) and by ours (``nbgrader_plugins.execute``); none comes from the kernel.
CELL_TIMEOUT = "CellTimeoutError"
DEAD_KERNEL = "DeadKernelError"          # named after nbclient's exception
NOTEBOOK_TIMEOUT = "NotebookTimeoutError"
CELL_NOT_RUN = "CellNotRun"

STOP_REASONS = {
    CELL_TIMEOUT: StopReason("the cell ran past its time limit and was interrupted",
                             "a cell ran past its time limit"),
    DEAD_KERNEL: StopReason("the kernel died while this cell ran (a crash, `os._exit`, or out of memory)",
                            "the kernel died (crash or resource limit); the notebook went on in a fresh one"),
    NOTEBOOK_TIMEOUT: StopReason(None, "the notebook ran past its total time limit"),
    CELL_NOT_RUN: StopReason(None, "the kernel kept dying; the rest of the notebook was not run"),
}


def stop_reason(ename: object) -> StopReason | None:
    """The stop reason an error output's ``ename`` names, or None (also for a malformed ``ename``)."""
    return STOP_REASONS.get(ename) if isinstance(ename, str) else None
