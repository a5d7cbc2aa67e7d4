"""Live audio stages on the hub: `room.py` the `stage:<place>` room kind (signalling and
state), `wire.py` its closed unions (commands, events, media messages), `store.py` the state
in Redis, `media_client.py` the requests to the media process, `ice.py` the ICE servers."""
