"""Product search: query understanding (``query``), SQLite FTS5 BM25 (``lexical``), sentence vectors
(``vectors``) and the hybrid of the two with spelling correction (``hybrid``)."""
