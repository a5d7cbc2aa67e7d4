"""Room kinds plugged into the hub: the base classes and the hub's own user/lobby/leaderboard rooms."""
