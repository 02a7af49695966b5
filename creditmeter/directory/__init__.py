"""The directory: organizations, users, memberships, personal keys, service tokens.

:class:`Directory` is the one door to them for the admin API, the command line
and authentication. It raises :mod:`creditmeter.errors` exceptions with
messages that say what to change. Inside:

- ``records.py``: the frozen records callers get back (:class:`PersonalKey`, …);
- ``operations.py``: :class:`Directory`, its operations and their rules;
- ``names.py``: the rules for display names and emails;
- ``authentication.py``: which live credential a secret belongs to;
- ``last_used.py``: how often ``lastUsedAt`` is written.
"""

from creditmeter.directory.names import display_name, normalise_email
from creditmeter.directory.operations import Directory, utcnow
from creditmeter.directory.records import (
    Credential,
    Member,
    Organization,
    OrgMembership,
    PersonalKey,
    ServiceToken,
    User,
)

__all__ = [
    "Credential",
    "Directory",
    "Member",
    "OrgMembership",
    "Organization",
    "PersonalKey",
    "ServiceToken",
    "User",
    "display_name",
    "normalise_email",
    "utcnow",
]
