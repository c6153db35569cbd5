"""Bulk work over corpora: ``ember batch INPUT OUTPUT``.

- :mod:`.source` reads Parquet, JSONL or CSV (one file, or a folder of parts in name order) as
  numbered row chunks, checking the columns a task needs;
- :mod:`.tasks` turns a chunk into one call of the service core and its result into columns;
- :mod:`.store` writes the output as atomic Parquet parts and knows which are done (resume);
- :mod:`.progress` reports rows, tokens per second and ETA;
- :mod:`.runner` overlaps reading, tokenization, the forward and writing.
"""
