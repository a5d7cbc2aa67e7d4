"""Background work run by arq workers: notification delivery, email, web push, feeds, schedules."""
