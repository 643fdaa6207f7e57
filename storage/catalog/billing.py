"""Billing: plans, subscriptions with the user's standing kept in step, provider events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import (
    CatalogBase,
    Connection,
    _columns,
    _fetch_one,
    _found,
    _one,
    _row_value,
)
from storage.catalog.errors import Conflict, NotFound, SubscriptionExists
from storage.catalog.models import BillingInterval, Plan, Subscription, SubscriptionStatus


class Billing(CatalogBase):
    """The `plans`, `subscriptions` and `billing_events` tables and the user's Stripe customer."""

    def upsert_plan(
        self,
        plan_id: str,
        *,
        name: str,
        price_cents: int,
        currency: str,
        interval: BillingInterval,
        stripe_price_id: str | None = None,
    ) -> Plan:
        """Create or replace a plan by its id (currency as ISO 4217, stored lower-case)."""
        query = sql.SQL(
            "INSERT INTO plans (id, name, price_cents, currency, interval, stripe_price_id)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " price_cents = excluded.price_cents, currency = excluded.currency,"
            " interval = excluded.interval, stripe_price_id = excluded.stripe_price_id"
            " RETURNING {}"
        ).format(_columns(Plan))
        params = (plan_id, name, price_cents, currency.lower(), interval, stripe_price_id)
        try:
            with self._transaction() as conn:
                return _one(conn, Plan, query, params)
        except errors.UniqueViolation as exc:
            raise Conflict(f"Stripe price {stripe_price_id!r} belongs to another plan") from exc

    def get_plan(self, plan_id: str) -> Plan:
        """The plan with this id."""
        query = sql.SQL("SELECT {} FROM plans WHERE id = %s").format(_columns(Plan))
        return self._row(Plan, query, (plan_id,), f"plan {plan_id!r}")

    def list_plans(self) -> list[Plan]:
        """Every plan, cheapest first."""
        query = sql.SQL("SELECT {} FROM plans ORDER BY price_cents, id").format(_columns(Plan))
        return self._rows(Plan, query, ())

    def create_subscription(
        self,
        user_id: UUID,
        plan_id: str,
        provider_subscription_id: str,
        *,
        status: SubscriptionStatus = SubscriptionStatus.INCOMPLETE,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        auto_renew: bool = True,
        payment_method_id: str | None = None,
        provider_customer_id: str | None = None,
    ) -> Subscription:
        """Record a payment provider's subscription and update the user's standing with it."""
        query = sql.SQL(
            "INSERT INTO subscriptions (user_id, plan_id, provider_subscription_id, status,"
            " start_date, end_date, auto_renew, payment_method_id, provider_customer_id)"
            " VALUES (%s, %s, %s, %s, coalesce(%s, now()), %s, %s, %s, %s) RETURNING {}"
        ).format(_columns(Subscription))
        params = (
            user_id,
            plan_id,
            provider_subscription_id,
            status,
            start_date,
            end_date,
            auto_renew,
            payment_method_id,
            provider_customer_id,
        )
        try:
            with self._transaction() as conn:
                _row_value(conn, "users", user_id, for_update=True)
                subscription = _one(conn, Subscription, query, params)
                _refresh_user_subscription_status(conn, user_id)
        except errors.UniqueViolation as exc:
            raise SubscriptionExists(
                f"subscription {provider_subscription_id!r} is already recorded"
            ) from exc
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"plan {plan_id!r}") from exc
        self._changed("user", user_id)
        return subscription

    def get_subscription(self, provider_subscription_id: str) -> Subscription:
        """The subscription with this payment provider id."""
        query = sql.SQL("SELECT {} FROM subscriptions WHERE provider_subscription_id = %s").format(
            _columns(Subscription)
        )
        return self._row(
            Subscription,
            query,
            (provider_subscription_id,),
            f"subscription {provider_subscription_id!r}",
        )

    def get_active_subscription(self, user_id: UUID) -> Subscription | None:
        """The user's most recently started subscription in state `active`, if any."""
        query = sql.SQL(
            "SELECT {} FROM subscriptions WHERE user_id = %s AND status = 'active'"
            " ORDER BY start_date DESC, id LIMIT 1"
        ).format(_columns(Subscription))
        return self._first(Subscription, query, (user_id,))

    def subscriptions_of_user(self, user_id: UUID) -> list[Subscription]:
        """Every subscription of the user, in any state, most recently started first."""
        query = sql.SQL(
            "SELECT {} FROM subscriptions WHERE user_id = %s ORDER BY start_date DESC, id"
        ).format(_columns(Subscription))
        return self._rows(Subscription, query, (user_id,))

    def update_subscription_status(
        self,
        provider_subscription_id: str,
        status: SubscriptionStatus,
        *,
        end_date: datetime | None = None,
        auto_renew: bool | None = None,
        event_at: datetime | None = None,
    ) -> Subscription:
        """Apply a provider's status change and bring the user's standing in step.

        With `event_at` (when the provider made the event), a change older than the last one
        applied is stale and changes nothing. A canceled subscription stays canceled: the
        provider never revives one, so only a late or replayed event could.
        """
        query = sql.SQL(
            "UPDATE subscriptions SET status = %s, end_date = coalesce(%s, end_date),"
            " auto_renew = coalesce(%s, auto_renew),"
            " last_event_at = greatest(last_event_at, %s)"
            " WHERE provider_subscription_id = %s RETURNING {}"
        ).format(_columns(Subscription))
        current = sql.SQL(
            "SELECT {} FROM subscriptions WHERE provider_subscription_id = %s"
        ).format(_columns(Subscription))
        params: tuple[object, ...] = (provider_subscription_id,)
        what = f"subscription {provider_subscription_id!r}"
        with self._transaction() as conn:
            found = _found(_fetch_one(conn, Subscription, current, params), what)
            # Lock the user before reading its subscriptions again, so that two webhooks for
            # the same user cannot each compute the standing without the other's change; the
            # subscription is read again under that lock.
            _row_value(conn, "users", found.user_id, for_update=True)
            found = _one(conn, Subscription, current, params)
            stale = (
                event_at is not None
                and found.last_event_at is not None
                and event_at < found.last_event_at
            )
            revived = found.status == SubscriptionStatus.CANCELED and status != found.status
            if stale or revived:
                return found
            changes = (status, end_date, auto_renew, event_at, provider_subscription_id)
            subscription = _one(conn, Subscription, query, changes)
            _refresh_user_subscription_status(conn, found.user_id)
        self._changed("user", found.user_id)
        return subscription

    def set_stripe_customer_id(self, user_id: UUID, customer_id: str) -> str:
        """Remember the user's Stripe customer unless one is stored; returns the stored one.

        The first one stored wins, so two concurrent first subscriptions agree on a customer.
        """
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "UPDATE users SET stripe_customer_id = coalesce(stripe_customer_id, %s)"
                    " WHERE id = %s RETURNING stripe_customer_id",
                    (customer_id, user_id),
                ).fetchone()
        except errors.UniqueViolation as exc:
            raise Conflict(f"Stripe customer {customer_id!r} belongs to another user") from exc
        if row is None:
            raise NotFound(f"user {user_id}")
        self._changed("user", user_id)
        stored: str = row[0]
        return stored

    @contextmanager
    def claim_billing_event(self, event_id: str, event_type: str) -> Iterator[bool]:
        """Record a payment provider's event for the block; yields False if already recorded.

        The record commits only when the block ends without an error, so an event whose
        handling failed is handled again when the provider retries it. Meanwhile a concurrent
        delivery of the same event waits on the record, and then finds it recorded.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "INSERT INTO billing_events (event_id, event_type) VALUES (%s, %s)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                (event_id, event_type),
            ).fetchone()
            yield row is not None


def _refresh_user_subscription_status(conn: Connection, user_id: UUID) -> None:
    """Summarise a user's subscriptions: any active wins over past due over canceled; and
    until when the active ones are paid (open-ended if any has no end)."""
    conn.execute(
        """
        UPDATE users SET subscription_status = coalesce(
            (SELECT CASE
                        WHEN bool_or(status = 'active') THEN 'active'
                        WHEN bool_or(status = 'past_due') THEN 'past_due'
                        WHEN bool_or(status = 'canceled') THEN 'canceled'
                    END
             FROM subscriptions WHERE user_id = %(user_id)s),
            'none'),
        subscribed_until = (
            SELECT CASE WHEN bool_or(end_date IS NULL) THEN NULL ELSE max(end_date) END
            FROM subscriptions WHERE user_id = %(user_id)s AND status = 'active')
        WHERE id = %(user_id)s
        """,
        {"user_id": user_id},
    )
