"""Domain core shared by every app: election definition, ballot encoding and
crypto, electoral law, results protocol. Imports nothing else of ours."""
