"""The bottom layer: atomic writes, file digests, worker processes, progress bars, signals. Imports no other
part of vidclass but its errors."""
