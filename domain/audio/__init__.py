"""Live audio stages in co-reading sessions and club events: the stage's state and rules
(`stage.py`, pure), who may open and join one (`places.py`), speaking time (`speaking.py`).
The signalling is `realtime/stage/`, the media process `realtime/media/`."""
