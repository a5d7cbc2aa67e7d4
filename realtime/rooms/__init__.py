"""Room kinds plugged into the hub: the base classes and the hub's user/lobby/leaderboard rooms."""
