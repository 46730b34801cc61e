"""The job side: the stage runner a job starts, its status records."""
