"""One line each to switch the exchange on: ``use_service_exchange(c)`` in an nbgrader config (the course's
or a user's), ``hub_service(c, ...)`` in a JupyterHub config."""

from __future__ import annotations

import sys
from pathlib import Path

from autograder.exchange import protocol

PLUGINS = {
    "exchange": "ServiceExchange",
    "fetch_assignment": "ServiceFetchAssignment",
    "fetch_feedback": "ServiceFetchFeedback",
    "release_assignment": "ServiceReleaseAssignment",
    "release_feedback": "ServiceReleaseFeedback",
    "list": "ServiceList",
    "submit": "ServiceSubmit",
    "collect": "ServiceCollect",
}


def use_service_exchange(c, url: str | None = None) -> None:
    """Make nbgrader (command line, formgrader, Assignments tab) use the service exchange. The service's URL
    comes from ``url`` or, when None, from ``$AUTOGRADER_EXCHANGE_URL`` at run time; the token is always the
    user's ``$JUPYTERHUB_API_TOKEN``."""
    for trait, name in PLUGINS.items():
        setattr(c.ExchangeFactory, trait, f"autograder.exchange.client.{name}")
    if url:
        c.ServiceExchange.url = url


def hub_service(c, data_dir: str | Path, courses_file: str | Path | None = None, port: int = 10101,
                python: str = sys.executable, environment: dict | None = None) -> str:
    """Register the exchange as a managed service of a JupyterHub config ``c`` and let every user's token
    reach it. Returns the URL users reach it at through the proxy's hub address (relative to the hub's
    public URL): ``/services/<name>/``. Users' servers need ``protocol.URL_ENV`` set to the full URL."""
    env = {protocol.DATA_DIR_ENV: str(data_dir), **(environment or {})}
    if courses_file:
        env[protocol.COURSES_ENV] = str(courses_file)
    service = {
        "name": protocol.SERVICE_NAME,
        "url": f"http://127.0.0.1:{port}",
        "command": [python, "-m", "autograder.exchange.service"],
        "environment": env,
    }
    services = [s for s in (c.JupyterHub.services or []) if s.get("name") != protocol.SERVICE_NAME]
    c.JupyterHub.services = [*services, service]
    roles = list(c.JupyterHub.load_roles or [])
    # the service reads users' groups when a user's token may not show them
    roles.append({"name": f"{protocol.SERVICE_NAME}-service", "scopes": ["read:users:groups", "read:users:name"],
                  "services": [protocol.SERVICE_NAME]})
    user_role = next((r for r in roles if r.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "scopes": ["self", protocol.ACCESS_SCOPE]})
    elif protocol.ACCESS_SCOPE not in user_role.setdefault("scopes", ["self"]):
        user_role["scopes"].append(protocol.ACCESS_SCOPE)
    c.JupyterHub.load_roles = roles
    # a user's server reaches the exchange with its own $JUPYTERHUB_API_TOKEN (the Assignments tab): besides
    # the `server` role's scopes, that token needs the exchange's access scope
    scopes = c.Spawner.server_token_scopes
    scopes = list(scopes) if isinstance(scopes, (list, tuple)) else ["users:activity!user", "access:servers!server"]
    if protocol.ACCESS_SCOPE not in scopes:
        scopes.append(protocol.ACCESS_SCOPE)
    c.Spawner.server_token_scopes = scopes
    return f"/services/{protocol.SERVICE_NAME}/"
