"""The theming engine's analysis library: texts in, themes out. No ORM, no settings.

Services in ``insights.services`` load rows, call these functions with plain Python and NumPy
values, and persist the dataclasses they return. Everything here is deterministic for a given
input and seed, and unit-tested on tiny hand-made inputs.

Modules
-------
``text``            prepare a ticket for analysis: the customer's side only, quoting, signatures,
                    greetings, auto-replies and boilerplate stripped, personal data redacted.
``representation``  texts → L2-normalised float32 vectors. A registry of backends by name:
                    ``tfidf`` (scikit-learn, no download, the default) and ``minilm``
                    (sentence-transformers from a local model path, an optional extra).
``discovery``       vectors (+ texts) → themes without labels: chooses the number of themes,
                    builds a two-level hierarchy, names each theme, picks representative examples;
                    matches a new run to existing themes so ids and names stay stable.
``classification``  the assignment model: trained from labelled examples (discovered themes and
                    support leads' corrections), multi-label, calibrated confidence, and an
                    explanation (the terms and sentences that drove each assignment).
``spikes``          a theme's daily counts → is today / this week a spike against its own
                    seasonal baseline.
``evaluation``      clustering and classification metrics (NMI, ARI, Hungarian accuracy, F1).
"""
