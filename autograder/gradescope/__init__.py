"""Gradescope: package the course's autograder as a Gradescope autograder zip, and the script that runs
inside Gradescope's container and writes ``results.json``."""
