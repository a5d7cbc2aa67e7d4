"""Co-reading sessions: tables, the shield's rules and the use-cases behind REST and rooms."""
