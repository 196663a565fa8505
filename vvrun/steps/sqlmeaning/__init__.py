"""SQL read by PostgreSQL's own parser (pglast): statements, danger, read-only proofs.

It lives with the step types because both the sql step (at run time) and the language's
meaning checks (at validate time) read it, and the language imports steps, not the reverse.

    analyse.py  `analyse(text) -> SqlMeaning`; pglast imported only when a text is not cached
    rules.py    what is dangerous and what is provably read-only, over the parse tree
    cache.py    classifications by statement hash under $XDG_CACHE_HOME/vvrun/sql-meaning
"""
