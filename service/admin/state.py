"""What the admin page keeps for the application's life: its settings, session keys, templates,
background tasks and the import runner it was given."""

from __future__ import annotations

from dataclasses import dataclass

from customers.config import Settings
from service.admin.config import AdminSettings
from service.admin.session import SessionKeys
from service.admin.tasks import TaskStore
from service.admin.templates import Templates
from service.admin.uploads import ImportRunner


@dataclass
class AdminState:
    settings: Settings
    admin: AdminSettings
    keys: SessionKeys
    templates: Templates
    tasks: TaskStore
    imports: ImportRunner | None

    @property
    def session_seconds(self) -> float:
        return self.admin.admin_session_hours * 3600
