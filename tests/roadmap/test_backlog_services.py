"""Backlog items and theme links through the services: statuses, ship time, links, history."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem, BacklogItemChange, ThemeLink
from roadmap.services import (
    BacklogError,
    backlog_item_create,
    backlog_item_update,
    theme_link_create,
    theme_link_delete,
)

pytestmark = pytest.mark.django_db


def test_it_creates_an_item_linked_to_the_themes_it_answers(product_manager, theme) -> None:
    item = backlog_item_create(user=product_manager, title="  Stream   CSV exports ", kind="feature",
                               themes=[theme], note="Acme asked")

    assert item.title == "Stream CSV exports"
    assert item.created_by == product_manager
    link = ThemeLink.objects.get(item=item)
    assert (link.theme, link.linked_by, link.note) == (theme, product_manager, "Acme asked")
    assert list(item.changes.values_list("action", flat=True)) == ["created", "theme_linked"]


def test_it_refuses_an_item_without_a_title(product_manager) -> None:
    with pytest.raises(BacklogError, match="title"):
        backlog_item_create(user=product_manager, title="   ")
    assert not BacklogItem.objects.exists()


def test_it_refuses_unknown_kinds_and_statuses(product_manager, backlog_item) -> None:
    with pytest.raises(BacklogError):
        backlog_item_create(user=product_manager, title="X", kind="epic")
    with pytest.raises(BacklogError):
        backlog_item_update(item=backlog_item, user=product_manager, status="done")


def test_shipping_sets_the_ship_time_and_reopening_clears_it(product_manager, backlog_item) -> None:
    backlog_item_update(item=backlog_item, user=product_manager, status="shipped", note="Released in 4.2")
    backlog_item.refresh_from_db()
    assert backlog_item.status == "shipped"
    assert timezone.now() - backlog_item.shipped_at < timedelta(minutes=1)

    backlog_item_update(item=backlog_item, user=product_manager, status="in_progress")
    backlog_item.refresh_from_db()
    assert backlog_item.shipped_at is None
    changes = list(BacklogItemChange.objects.filter(item=backlog_item, action="status").values_list("before", "after"))
    assert changes == [("Planned", "Shipped"), ("Shipped", "In progress")]


def test_it_records_a_given_ship_time(product_manager, backlog_item) -> None:
    when = timezone.make_aware(datetime(2026, 3, 2, 12, 0))

    backlog_item_update(item=backlog_item, user=product_manager, status="shipped", shipped_at=when)

    backlog_item.refresh_from_db()
    assert backlog_item.shipped_at == when


def test_an_edit_records_which_fields_changed(product_manager, backlog_item) -> None:
    target = timezone.localdate() + timedelta(days=30)

    backlog_item_update(item=backlog_item, user=product_manager, title="Stream big CSV exports",
                        target_date=target, owner=product_manager, external_key="ENG-12")

    backlog_item.refresh_from_db()
    assert (backlog_item.title, backlog_item.target_date, backlog_item.owner) == (
        "Stream big CSV exports", target, product_manager)
    change = backlog_item.changes.get(action="edited")
    assert change.after == "title, owner, target date, external key"


def test_an_update_that_changes_nothing_is_refused(product_manager, backlog_item) -> None:
    with pytest.raises(BacklogError, match="Nothing to change"):
        backlog_item_update(item=backlog_item, user=product_manager, title=backlog_item.title, status="planned")


def test_linking_twice_or_a_merged_theme_is_refused(product_manager, backlog_item, theme) -> None:
    theme_link_create(item=backlog_item, theme=theme, user=product_manager)
    with pytest.raises(BacklogError, match="already linked"):
        theme_link_create(item=backlog_item, theme=theme, user=product_manager)
    merged = Theme.objects.create(name="Old", status=ThemeStatus.MERGED)
    with pytest.raises(BacklogError, match="merged"):
        theme_link_create(item=backlog_item, theme=merged, user=product_manager)
    assert ThemeLink.objects.count() == 1


def test_unlinking_keeps_who_did_it_and_why_in_the_history(product_manager, backlog_item, theme) -> None:
    link = theme_link_create(item=backlog_item, theme=theme, user=product_manager, note="Same root cause")

    theme_link_delete(link=link, user=product_manager, note="Different cause after all")

    assert not ThemeLink.objects.exists()
    change = backlog_item.changes.get(action="theme_unlinked")
    assert (change.before, change.user, change.note) == (theme.name, product_manager, "Different cause after all")


def test_reusing_a_synced_items_tracker_key_is_refused_in_words(product_manager) -> None:
    from roadmap.models import BacklogSource, BacklogSourceKind

    tracker = BacklogSource.objects.create(name="GitHub", kind=BacklogSourceKind.GITHUB)
    BacklogItem.objects.create(title="Dark mode", external_key="acme/app#1", backlog_source=tracker)
    other = BacklogItem.objects.create(title="SSO", external_key="acme/app#2", backlog_source=tracker)

    with pytest.raises(BacklogError, match="already has the key"):
        backlog_item_update(item=other, user=product_manager, external_key="acme/app#1")
    other.refresh_from_db()
    assert other.external_key == "acme/app#2"
    assert not BacklogItemChange.objects.filter(item=other).exists()
