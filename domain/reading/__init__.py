"""The reading state: one per (reader, book) — status, shelves, reads, the reading log and the
one furthest progression every source moves (`progress.advance`) and every spoiler gate reads."""
