"""Live reading positions shared by the room kinds that move readers (co-reading sessions,
club rooms): `live.py` the Redis side of a move (the move script on the room's slot, the live
source of positions and furthest progressions), `writebehind.py` the batches that write them to
PostgreSQL behind the ack, one route per room kind."""
