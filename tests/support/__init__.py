"""Real local servers and helpers the tests share."""
