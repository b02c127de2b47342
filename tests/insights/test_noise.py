"""Support-email noise: realistic, varied, deterministic, and the query always survives intact."""

from __future__ import annotations

from insights.analysis import noise
from insights.analysis.noise import email_noise

QUERIES = ["I am still waiting on my card?", "a cup of coffee please", "Why was my transfer declined?"] * 20


def test_it_is_deterministic_per_seed_and_varies_between_seeds() -> None:
    assert email_noise(QUERIES, seed=3) == email_noise(QUERIES, seed=3)
    assert email_noise(QUERIES, seed=3) != email_noise(QUERIES, seed=4)


def test_it_keeps_each_query_verbatim_and_wraps_it() -> None:
    bodies = email_noise(QUERIES, seed=1)
    assert len(bodies) == len(QUERIES)
    for query, body in zip(QUERIES, bodies, strict=True):
        assert query in body and body != query


def test_it_draws_every_kind_of_noise() -> None:
    joined = "\n".join(email_noise(QUERIES * 5, seed=0))
    for marker in ("wrote:", "From:", "\n> ", "Forwarded message", "Sent from", "Regards", "@", "+44", "www."):
        assert marker in joined, marker


def test_the_two_halves_share_no_phrase_and_each_draws_only_its_own() -> None:
    development = noise._Pools.for_half("development")
    held_out = noise._Pools.for_half("held_out")
    for mine, theirs in zip(vars(development).values(), vars(held_out).values(), strict=True):
        assert mine and theirs and not set(mine) & set(theirs)
    bodies = "\n".join(email_noise(QUERIES * 5, seed=2, half="development"))
    unseen = [closer for closer in held_out.closers if not any(closer in own for own in development.closers)]
    assert unseen and not [closer for closer in unseen if closer in bodies]
