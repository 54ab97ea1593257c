"""The course's exchange: release, fetch, submit, collect and feedback through a JupyterHub service that
knows who is calling (``service``), and the nbgrader exchange plugins that talk to it (``client``).
``protocol`` holds what both sides agree on."""
