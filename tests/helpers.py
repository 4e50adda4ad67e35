"""Values and helpers shared by the suite's fixtures and tests."""

from __future__ import annotations

import secrets

ADMIN_TOKEN = "admin-" + secrets.token_hex(16)
READER_TOKEN = "reader-" + secrets.token_hex(16)
