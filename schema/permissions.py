"""Role checks on fields: VIEWER reads, EDITOR writes data, ADMIN manages the workspace."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from api.workspaces import Role
from schema.context import Info


class _RoleAtLeast(BasePermission):
    role: ClassVar[Role]
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.caller
        if principal.role.allows(self.role):
            return True
        self.message = f"This needs the {self.role.value} role; this API key is {principal.role.value}."
        return False


class IsEditor(_RoleAtLeast):
    role = Role.EDITOR


class IsAdmin(_RoleAtLeast):
    role = Role.ADMIN
