"""Coverage-guided fuzz harnesses (atheris), their seed corpus and kept crashers."""
