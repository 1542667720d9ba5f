"""Review and sign-off in the browser: ``thioquant review BATCH_OR_OUTPUT_DIR``.

- :mod:`~thioquant.review.users`: the local user file (names, roles, argon2 password hashes);
- :mod:`~thioquant.review.journal`: the hash-chained review journal (every edit and signature);
- :mod:`~thioquant.review.session`: the review state of one output folder (manual integrations,
  calibrator exclusions, undo, signatures) and its release as a signed version;
- :mod:`~thioquant.review.app`: the local web application (Flask, served by waitress on
  127.0.0.1 with a random token).

See docs/review.md.
"""
