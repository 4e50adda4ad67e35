"""The admin page's own settings, read like the service's (environment, then the settings file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from customers.config import ProjectSettings

GIB = 1 << 30


class AdminSettings(ProjectSettings):
    """Limits and places of the admin page."""

    # The one request allowed past `http_max_body_bytes`: a file uploaded for import. Streamed to
    # disk as it arrives (never held in memory) and refused with 413 past this size.
    admin_upload_max_bytes: int = Field(default=GIB, ge=1024)
    # Where uploads, their rejects files and the state of background tasks live (default:
    # `<customers_data_dir>/admin`). Shared by the workers of one machine.
    admin_work_dir: Path | None = None
    # Uploaded files are deleted once imported; a task's folder (its rejects file) is kept this long.
    admin_keep_days: float = Field(default=7, gt=0)
    # A login lasts this long.
    admin_session_hours: float = Field(default=12, gt=0, le=24 * 30)

    def work_dir(self, data_dir: Path) -> Path:
        """The folder of uploads and task states."""
        return (self.admin_work_dir or data_dir / "admin").expanduser().resolve()


def load_admin_settings(**overrides: object) -> AdminSettings:
    """Read the admin settings, failing with one line that names the bad variable."""
    return AdminSettings.load(**overrides)
