"""piccolo table of activities (see m0007_feeds)."""

from __future__ import annotations

from piccolo.columns import JSONB, BigSerial, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from domain.accounts.tables import User


class Activity(Table, tablename="activities"):
    """Something a user did that their followers see in their home feed."""

    id = BigSerial(primary_key=True)
    actor_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    verb = Varchar(length=40)
    object_kind = Varchar(length=30, default="")
    object_id = Varchar(length=64, default="")
    payload = JSONB(default={})
    created_at = Timestamptz()
