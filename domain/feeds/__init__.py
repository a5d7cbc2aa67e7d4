"""Activity feeds: activities (Postgres) and per-follower home feeds (Redis, rebuildable)."""
