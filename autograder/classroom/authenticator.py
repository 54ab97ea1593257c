"""The course's authenticator: NativeAuthenticator (passwords in the hub's database, sign-ups approved by
an instructor, /hub/change-password), logging in through JupyterHub's own login page.

NativeAuthenticator 1.3 replaces the login page with one written for older hubs (it times logins with
``self.statsd``, which JupyterHub 6 no longer has, so every login fails with a 500). Its other pages work;
only that one route is left to the hub. Lost with it: the sign-up link and the 2FA field on the login page
(``/hub/signup`` still works when sign-up is on).
"""

from __future__ import annotations

from nativeauthenticator import NativeAuthenticator


class CourseAuthenticator(NativeAuthenticator):
    def get_handlers(self, app):
        return [(route, handler) for route, handler in super().get_handlers(app) if route != r"/login"]
