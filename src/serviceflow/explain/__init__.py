"""The policy author's tools: why a policy fired or did not, and which clauses the tests exercised."""
