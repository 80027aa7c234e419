"""Who may do what through the API and the pages.

Tokens: a service token predicts, explains, reads and asks; a staff token may also change the
registry, promote, read the audit trail and clear the cache. Django users (a session from the
admin or the dashboard) are held to their Django permissions as well: staff status alone is
not the right to change a model, and a plain user sees neither the pages nor the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required, user_passes_test
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from apiauth.models import TokenUser

DASHBOARD_PERMISSION = "apiauth.view_dashboard"


def is_token(user: Any) -> bool:
    return isinstance(user, TokenUser)


def may_see_dashboard(user: Any) -> bool:
    """Staff, or a user given `view_dashboard`: the pages, the docs and the API's reads."""
    return bool(user and user.is_authenticated and user.is_active
                and (user.is_staff or user.has_perm(DASHBOARD_PERMISSION)))


def _has_model_perms(request: Any, view: Any) -> bool:
    """A Django user needs the permissions the view names for this method (tokens have none)."""
    user = request.user
    if is_token(user):
        return True
    needed = getattr(view, "required_permissions", {}).get(request.method, ())
    return user.has_perms(needed)


class IsTokenOrDashboardUser(BasePermission):
    """The default: any token, or a Django user who may see the dashboard."""

    message = "This needs an API token, or a staff user (or one with the view_dashboard permission)."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return is_token(user) or may_see_dashboard(user)


class IsStaff(BasePermission):
    message = "This action needs a staff token or an admin user with the permission for it."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff) and _has_model_perms(request, view)


class ReadOrStaffWrite(BasePermission):
    """Any authenticated caller may read; only staff may change, with the model permission."""

    message = "Changing the registry needs a staff token or an admin user with the permission for it."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not IsTokenOrDashboardUser().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user.is_staff) and _has_model_perms(request, view)


def dashboard_required(view: Callable, login_url: str | None = None) -> Callable:
    """Log in first; then staff or `view_dashboard`, else 403 (not another login loop)."""

    def check(user: Any) -> bool:
        if may_see_dashboard(user):
            return True
        raise PermissionDenied

    return login_required(user_passes_test(check)(view), login_url=login_url)
