"""Manual edits and the listing lifecycle.

- `locked_fields` on listings (name, location) and listing_info (name, description, category, hours,
  contact fields, visibility): fields an admin set by hand, which imports never overwrite;
- `manually_modified_by` holds the admin's user name (Airflow users are names, not integers);
- `status_reason` / `status_changed_at`: why and when a listing was archived or a listing_info removed;
- `pipeline.listing_edits`: every manual change (who, when, field, old and new value), the audit trail
  and the timeline of a listing;
- `pipeline.jobs.full_snapshot` and `pipeline.listing_info_absence` (runs in a row that missed a
  listing_info): the removal sweep's inputs;
- `pipeline.configs.document`: the whole config (category_synonyms and removal had no column and were
  lost between `config apply` and a run);
- `public.visible_listing_info`: what each DMO shows (active, visible listing and listing_info);
- `pipeline.refresh_listing_match(ids)` joins the ids as a set instead of scanning every listing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("listings", "listing_info"):
        op.execute(f"alter table public.{table} add column locked_fields text[] not null default '{{}}'")
        op.execute(
            f"alter table public.{table} alter column manually_modified_by type text"
            " using manually_modified_by::text"
        )
        op.execute(f"alter table public.{table} add column status_reason text")
        op.execute(f"alter table public.{table} add column status_changed_at timestamp")
    op.execute(
        """
        create table pipeline.listing_edits (
            id bigserial primary key,
            listing_id integer not null references public.listings (id),
            listing_info_id integer references public.listing_info (id),
            action text not null,
            field text,
            old_value jsonb,
            new_value jsonb,
            edited_by text not null,
            edited_at timestamp not null default now(),
            review_item_id bigint references pipeline.review_items (id),
            constraint action check (action in
                ('edit', 'unlock', 'accept_source', 'keep_manual', 'hide', 'show', 'archive', 'restore'))
        )
        """
    )
    op.execute("create index ix_listing_edits_listing_id on pipeline.listing_edits (listing_id, id)")
    # The removal sweep's input: runs in a row that did not see a listing_info (rows only for the absent;
    # promotion deletes a row when the record is seen again, so a normal run writes almost nothing here).
    op.execute(
        """
        create table pipeline.listing_info_absence (
            listing_info_id integer primary key references public.listing_info (id),
            dmo_id integer not null,
            missed_runs integer not null,
            first_missed_job_id bigint,
            last_missed_job_id bigint
        )
        """
    )
    # An incremental run (fetching only what changed) is not a full snapshot: it never removes anything.
    op.execute("alter table pipeline.jobs add column full_snapshot boolean not null default true")
    # The whole config document: fields without a column of their own (category_synonyms, removal) were
    # lost between `config apply` and a run. Filled from the latest version for existing configs.
    op.execute("alter table pipeline.configs add column document jsonb")
    op.execute(
        """
        update pipeline.configs c set document = v.document
        from pipeline.config_versions v where v.config_id = c.id and v.version = c.version
        """
    )
    # The matching index refresh after a promotion: `ids is null or l.id = any(ids)` made PostgreSQL
    # compare every listing with the whole array (a 100k-listing promotion into a 1M catalogue ran for
    # minutes); the ids are now joined as a set.
    op.execute(
        """
        create or replace function pipeline.refresh_listing_match(ids integer[]) returns integer
        language sql as $$
            with targets as (  -- ids null: every listing (no `ids is null or id = any(ids)`: that scans them all)
                select id from public.listings where ids is null
                union
                select unnest(ids) where ids is not null
            ),
            gone as (
                delete from pipeline.listing_match m
                using public.listings l
                where m.listing_id = l.id and l.listing_status = 'merged'
                  and l.id in (select id from targets)
                returning 1
            ),
            fresh as (
                insert into pipeline.listing_match (
                    listing_id, name, name_key, address1, city, zip, country, lat, lng, geog, postal_key,
                    address_key, house_number, city_key, phones, website_hosts, websites, categories, updated_at
                )
                select
                    l.id, l.name, l.name_key, pl.address1, pl.city, pl.zip, pl.country, pl.lat, pl.lng, pl.geog,
                    nullif(upper(regexp_replace(pl.zip, '[^A-Za-z0-9]', '', 'g')), ''),
                    pl.address_key, pl.house_number, pl.city_key,
                    coalesce(array_agg(distinct ci.international_phone) filter (where ci.international_phone is not null), '{}'),
                    coalesce(array_agg(distinct ci.website_host) filter (where ci.website_host is not null), '{}'),
                    coalesce(array_agg(distinct ci.website_url) filter (where ci.website_url is not null), '{}'),
                    coalesce(array_agg(distinct li.category) filter (where li.category is not null), '{}'),
                    now()
                from public.listings l
                left join public.locations pl on pl.id = l.location_id
                left join public.listing_info li on li.listing_id = l.id
                left join public.contact_info ci on ci.id = li.contact_info_id
                where l.listing_status <> 'merged' and l.id in (select id from targets)
                group by l.id, pl.id
                on conflict (listing_id) do update set
                    name = excluded.name, name_key = excluded.name_key, address1 = excluded.address1,
                    city = excluded.city, zip = excluded.zip, country = excluded.country, lat = excluded.lat,
                    lng = excluded.lng, geog = excluded.geog, postal_key = excluded.postal_key,
                    address_key = excluded.address_key, house_number = excluded.house_number,
                    city_key = excluded.city_key, phones = excluded.phones, website_hosts = excluded.website_hosts,
                    websites = excluded.websites, categories = excluded.categories, updated_at = now()
                returning 1
            )
            select (select count(*) from fresh)::integer + (select count(*) from gone)::integer
        $$
        """
    )
    # What each DMO shows: active, visible listings through their visible, active listing_info.
    op.execute(
        """
        create view public.visible_listing_info as
        select li.*
        from public.listing_info li
        join public.listings l on l.id = li.listing_id
        where l.listing_status = 'active' and l.listing_visible
          and li.info_status = 'active' and li.info_visible
        """
    )


def downgrade() -> None:
    op.execute("drop view if exists public.visible_listing_info")
    op.execute("alter table pipeline.configs drop column document")
    op.execute("alter table pipeline.jobs drop column full_snapshot")
    op.execute("drop table if exists pipeline.listing_info_absence")
    op.execute("drop table if exists pipeline.listing_edits")
    for table in ("listings", "listing_info"):
        op.execute(f"alter table public.{table} drop column status_changed_at")
        op.execute(f"alter table public.{table} drop column status_reason")
        op.execute(
            f"alter table public.{table} alter column manually_modified_by type integer"
            " using nullif(regexp_replace(manually_modified_by, '[^0-9]', '', 'g'), '')::integer"
        )
        op.execute(f"alter table public.{table} drop column locked_fields")
