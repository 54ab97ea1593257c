"""The course on a real JupyterHub: who is in it (roster), their accounts, the hub's configuration and
the command that runs it (``autograder hub``). See docs/classroom.md."""
