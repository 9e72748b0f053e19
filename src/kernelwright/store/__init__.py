"""The run store: one SQLite database holding runs, tasks, candidates and everything measured.

The store is the only place in kernelwright that writes SQL.
"""

from .database import DEFAULT_DB, ENV_VAR, Store, default_db_path
from .environment import collect_environment
from .errors import StoreError
from .guard import APPLICATION_ID
from .migrations import LATEST_VERSION, MIGRATIONS, migrate
from .models import (
    RECORD_TYPES,
    Build,
    Candidate,
    Environment,
    Event,
    LLMCall,
    MemoryEntry,
    Program,
    PolicyRecord,
    Profile,
    Record,
    Run,
    SampleRecord,
    TaskRecord,
    Timing,
    Verification,
    content_hash,
    new_id,
    prompt_hash,
    utc_now,
)

__all__ = [
    "APPLICATION_ID",
    "Build",
    "Candidate",
    "DEFAULT_DB",
    "ENV_VAR",
    "Environment",
    "Event",
    "LATEST_VERSION",
    "LLMCall",
    "MemoryEntry",
    "Program",
    "PolicyRecord",
    "MIGRATIONS",
    "Profile",
    "RECORD_TYPES",
    "Record",
    "Run",
    "SampleRecord",
    "Store",
    "StoreError",
    "TaskRecord",
    "Timing",
    "Verification",
    "collect_environment",
    "content_hash",
    "default_db_path",
    "migrate",
    "new_id",
    "prompt_hash",
    "utc_now",
]
