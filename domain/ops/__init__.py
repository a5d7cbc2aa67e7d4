"""Operations: metric families shared by every process, backup and restore."""
