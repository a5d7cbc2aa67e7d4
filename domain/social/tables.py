"""piccolo tables of the social graph: follows, blocks and mutes (see m0003_social)."""

from __future__ import annotations

from piccolo.columns import BigSerial, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from domain.accounts.tables import User


class Follow(Table, tablename="follows"):
    """`follower_id` follows `followee_id`; `status` is 'accepted' or 'pending' (a request)."""

    id = BigSerial(primary_key=True)
    follower_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    followee_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    status = Varchar(length=16, default="accepted")
    created_at = Timestamptz()


class Block(Table, tablename="blocks"):
    """`blocker_id` blocked `blocked_id`: neither sees the other, follows are gone both ways."""

    id = BigSerial(primary_key=True)
    blocker_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    blocked_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()


class Mute(Table, tablename="mutes"):
    """`muter_id` muted `muted_id`: the muted user's activity is hidden from the muter only."""

    id = BigSerial(primary_key=True)
    muter_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    muted_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()
