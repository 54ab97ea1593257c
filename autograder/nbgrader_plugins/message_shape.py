"""Whether a kernel message has the shape nbclient relies on.

nbclient trusts the kernel: a ``status`` without ``execution_state``, a ``stream`` without ``name`` or a
``transient`` that is not an object raises inside it and aborts the whole notebook. A student can publish
such messages, so ``GuardedExecute`` drops any message that is not well formed (it is still charged to
the output budget)."""

from __future__ import annotations


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _mime_bundle(content: dict, key: str) -> bool:
    return isinstance(content.get(key, {}), dict)


def well_formed(msg_type, content) -> bool:
    if not isinstance(content, dict):
        return False
    transient = content.get("transient")
    if transient is not None and not isinstance(transient, dict):
        return False
    if isinstance(transient, dict) and not isinstance(transient.get("display_id", ""), (str, type(None))):
        return False
    if msg_type == "status":
        return isinstance(content.get("execution_state"), str)
    if msg_type == "stream":
        return isinstance(content.get("name"), str) and isinstance(content.get("text"), str)
    if msg_type in ("display_data", "execute_result", "update_display_data"):
        return isinstance(content.get("data"), dict) and _mime_bundle(content, "metadata")
    if msg_type == "error":
        return (isinstance(content.get("ename"), str) and isinstance(content.get("evalue"), str)
                and _strings(content.get("traceback", [])))
    if msg_type in ("comm_open", "comm_msg", "comm_close"):
        return isinstance(content.get("comm_id"), str) and isinstance(content.get("data", {}), dict)
    return True
