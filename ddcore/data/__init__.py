"""Real datasets: the embedded defaults and readers for data on the user's disk."""
