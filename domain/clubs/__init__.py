"""Book clubs: clubs and membership (`clubs`, `members`), invitation links (`invites`), the
reading schedule (`schedule`) and the clubs' places of the shielded discussion (`venue`: club
chat on `club:<id>` and one thread per schedule section, both through `domain.discussion`).

Rules in one line each: a `secret` club (and any club, for a banned user or a user the owner
blocked) answers 404 to outsiders; a `private` club is unlisted but its page is readable; joining
follows the join policy (`open` joins, `approval` files a request, `invitation` needs a link) and
the member cap; the owner is one member, moderators are chosen by the owner; content in a club is
gated at its author's furthest progression in the club's current book (the reader's one reading
state) and a section thread's posts at least at the section's end."""
