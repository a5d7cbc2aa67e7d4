"""The media process (`readalong media`): aiortc peers for every stage, one per client. Each
speaker's Opus audio is received and decoded once; every 20 ms the process mixes, per stage, the
audible speakers each listener may hear (a speaker never hears themselves, nobody hears whom
they blocked or who blocked them) and encodes each distinct mix ONCE; listeners with the same
mix get the same Opus packets (`mix.py`). `peers.py` the peers and stages, `ice.py` the ICE
configuration, `process.py` the Redis request loop and heartbeat."""
