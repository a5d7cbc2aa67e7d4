"""The social graph context: follows, blocks, mutes and the visibility rules built on them."""
