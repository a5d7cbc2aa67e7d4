"""Co-reading sessions: tables, the spoiler shield's rules and the use-cases behind REST and the room."""
