"""The matching index: one row per listing with everything candidate search and scoring read (keys,
current location, every DMO's phones, website hosts and categories), kept by promotion through
`pipeline.refresh_listing_match(ids)`, so that matching is single-table index lookups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 13:15:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table pipeline.listing_match (
            listing_id integer primary key references public.listings (id),
            name text,
            name_key text,
            address1 text,
            city text,
            zip text,
            country char(2),
            lat numeric(10, 8),
            lng numeric(11, 8),
            geog geography(Point, 4326),
            postal_key text,
            address_key text,
            house_number text,
            city_key text,
            phones text[] not null default '{}',
            website_hosts text[] not null default '{}',
            websites text[] not null default '{}',
            categories text[] not null default '{}',
            updated_at timestamp not null default now()
        )
        """
    )
    op.execute("create index ix_listing_match_geog on pipeline.listing_match using gist (geog)")
    op.execute("create index ix_listing_match_postal_key on pipeline.listing_match (postal_key)")
    op.execute(
        "create index ix_listing_match_name_trgm on pipeline.listing_match using gin (name gin_trgm_ops)"
    )
    # ids null: every listing. Merged listings leave the index (they forward to their target).
    op.execute(
        """
        create function pipeline.refresh_listing_match(ids integer[]) returns integer
        language sql as $$
            with gone as (
                delete from pipeline.listing_match m
                using public.listings l
                where m.listing_id = l.id and l.listing_status = 'merged'
                  and (ids is null or l.id = any(ids))
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
                where l.listing_status <> 'merged' and (ids is null or l.id = any(ids))
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
    op.execute("select pipeline.refresh_listing_match(null)")


def downgrade() -> None:
    op.execute("drop function if exists pipeline.refresh_listing_match(integer[])")
    op.execute("drop table if exists pipeline.listing_match")
