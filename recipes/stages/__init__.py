"""What each stage does inside its job, given a StageContext (execute, and render where the engine reads its own config). The commands are recipes/<stage>.py."""
