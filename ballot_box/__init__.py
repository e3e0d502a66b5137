"""The registration-table station: pollbook, card issue and cast, storage,
audit log, close of polls, protocol output, clerk app."""
