"""AI in the workers: embeddings, semantic search, recommendations, summaries, moderation."""
