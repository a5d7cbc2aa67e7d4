"""The shielded-discussion component: chat messages, edits, deletes, reactions, annotations,
replies and typing — their gates, variants (full / redacted / hidden) and side effects —
independent of where they are written.

How a place kind uses it (sessions do; a club, a club section thread or an event next):

1. **Implement a `Venue`** (`domain.discussion.place`): `kind`, `place(db, id) -> Place`
   (room name, title, book and its chapters, `audience` "public"/"followers"/"invite",
   `moderators`, `writable`), `check_readable`, `may_read`, `poster` (who may write now, and
   their furthest progression: gates are never below it), `viewer` (a reader's
   `ViewerState`) and `readable_sql` (for book-wide listings). See
   `domain.sessions.venue.SessionVenue`.
2. **Give it tables**: add a `store.Tables` entry to `store.TABLES` for the kind (a migration
   creating tables with the columns of session_messages / session_reactions /
   session_annotations, the place id column named in `Tables.place`, and the partial unique
   `(author_id, client_key)` indexes that make resends idempotent).
3. **Call the use-cases** (`actions.post_message`, `edit_message`, `delete_message`, `react`,
   `annotate`, `delete_annotation`, `typing`; `listings.list_*`, `unlocked_between`) from REST
   and from the room kind alike. Each returns an `commit.Outcome` (result, room, typed events,
   side effects); pass it to `commit.deliver(outcome, publish, db, redis,
   effects.runner(venue))`, where `publish(room, event)` is injected by the transport (realtime
   builds its RoomEvent carrier from `events.delivery(event)`). Events are the closed union
   `events.SessionEvent`; a new room kind adds its own union the same way.
   Transports that exist already: `realtime.rooms.discussion_commands` (the socket commands
   `chat`, `chat_edit`, `chat_delete`, `react`, `annotate`, `annotation_delete`, `typing`:
   `decode`, then `handle(hub, redis, db, venue, effects, place_id, conn, who, cmd)` gives the
   ack — a club room kind calls it from its `on_publish`), `realtime.rooms.discussion` (the
   typed event -> RoomEvent carrier and the hub/Publisher publish functions) and
   `server.api.discussion` (REST routes over a venue).
4. **The shield's rule** (`spoilers`) is written once: `variant()` decides SKIP / FULL /
   REDACTED for a viewer and an item, `*_gate()` the gates, `reaches_beyond_place()` the
   audience bound; `realtime.rooms.base.variant_for` calls it. Every new item kind joins the
   shield table test (tests/test_shield_table.py).
"""
