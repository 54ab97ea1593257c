"""Autograder for the PyTorch autograd course.

``autograder.probe`` runs inside students' kernels; everything else runs in the trusted grading
process. Keep this module free of imports so that a sandboxed kernel can load the probe alone.
"""

__version__ = "0.1.0"
