"""The `club:<id>` room kind (club chat, presence, typing, schedule announcements) and the
`club_thread:<section id>` room kind (a section's thread, live). Both run the shielded
discussion's commands (`realtime.rooms.discussion_commands`) over the club venues."""

from realtime.rooms.club.room import ClubRoom, ClubThreadRoom, place_id_of

__all__ = ["ClubRoom", "ClubThreadRoom", "place_id_of"]
