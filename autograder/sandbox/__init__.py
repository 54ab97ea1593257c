"""Confinement of students' kernels: each runs in a private scratch directory, in user and network
namespaces, with rlimits and a Landlock allow-list, so it can read only the Python environment and its
own files and write only its scratch directory. See the README's instructor section for the threat
model."""
