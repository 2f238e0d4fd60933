"""Candidate blocks that do not depend on one field being spelled the same.

- `region_key` on staging and public locations and in the matching index `pipeline.listing_match`: the
  state / province code (`listings.transform.places.region_key`: "Québec", "Quebec" and "QC" are all "QC"),
  so that a name is looked up in its region when the city is written differently ("New York" / "New York
  City", a neighbourhood / its city) or when a source has no postal codes at all;
- `listing_match.names`: every DMO's name for the listing (a record is compared with the closest);
- indexes: phones and website hosts (GIN on the arrays: a shared phone or site finds a listing whatever its
  name or address), the address key (the same street address in any city), and (region, name key): the
  same name anywhere in the region.
Existing locations get their region key, and city keys that the alias file now brings to their city
(`places.city_match_key`), computed here once per distinct (city, state, country).
`pipeline.refresh_listing_match(ids)` fills the new columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


REFRESH_LISTING_MATCH = """
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
                    address_key, house_number, city_key, phones, website_hosts, websites, categories,
                    image_phashes, {extra_columns}updated_at
                )
                select
                    l.id, l.name, l.name_key, pl.address1, pl.city, pl.zip, pl.country, pl.lat, pl.lng, pl.geog,
                    {postal_key},
                    pl.address_key, pl.house_number, pl.city_key,
                    coalesce(array_agg(distinct ci.international_phone) filter (where ci.international_phone is not null), '{{}}'),
                    coalesce(array_agg(distinct ci.website_host) filter (where ci.website_host is not null), '{{}}'),
                    coalesce(array_agg(distinct ci.website_url) filter (where ci.website_url is not null), '{{}}'),
                    coalesce(array_agg(distinct li.category) filter (where li.category is not null), '{{}}'),
                    coalesce((
                        select array_agg(distinct img.phash::text)
                        from public.listing_info as li2
                        join public.listing_images as img on img.listing_info_id = li2.id
                        where li2.listing_id = l.id and img.phash is not null
                    ), '{{}}'),
                    {extra_values}now()
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
                    websites = excluded.websites, categories = excluded.categories,
                    image_phashes = excluded.image_phashes, {extra_update}updated_at = now()
                returning 1
            )
            select (select count(*) from fresh)::integer + (select count(*) from gone)::integer
        $$
        """


def refresh_listing_match(*, with_blocks: bool) -> str:
    """The refresh function with region and every DMO's names (0015), or without them (0007's)."""
    plain = "nullif(upper(regexp_replace(pl.zip, '[^A-Za-z0-9]', '', 'g')), '')"
    if not with_blocks:
        return REFRESH_LISTING_MATCH.format(
            extra_columns="", extra_values="", extra_update="", postal_key=plain
        )
    return REFRESH_LISTING_MATCH.format(
        # normalize.postal_key: a US ZIP+4 keys on its 5-digit ZIP (as incoming records do)
        postal_key=f"case when pl.country = 'US' and {plain} ~ '^[0-9]{{9}}$' then left({plain}, 5) else {plain} end",
        extra_columns="region_key, names, ",
        extra_values="""pl.region_key,
                    coalesce(array_agg(distinct li.name) filter (where li.name is not null and li.name <> l.name), '{}'),
                    """,
        extra_update="region_key = excluded.region_key, names = excluded.names, ",
    )


def _backfill_keys() -> None:
    from listings.transform.places import city_match_key, region_key

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "select distinct city, state, country from public.locations where city is not null or state is not null"
        )
    ).all()
    if not rows:
        return
    conn.execute(
        sa.text(
            "update public.locations set region_key = :r, city_key = coalesce(nullif(:c, ''), city_key)"
            " where city is not distinct from :city and state is not distinct from :state"
            " and country is not distinct from :country"
        ),
        [
            {
                "r": region_key(r.state, r.country),
                "c": city_match_key(r.city, r.state, r.country),
                "city": r.city,
                "state": r.state,
                "country": r.country,
            }
            for r in rows
        ],
    )


def upgrade() -> None:
    for schema in ("public", "staging"):
        op.execute(f"alter table {schema}.locations add column region_key text")
    _backfill_keys()
    op.execute("alter table pipeline.listing_match add column region_key text")
    op.execute("alter table pipeline.listing_match add column names text[] not null default '{}'")
    op.execute(refresh_listing_match(with_blocks=True))
    op.execute("select pipeline.refresh_listing_match(null)")
    op.execute("create index ix_listing_match_phones on pipeline.listing_match using gin (phones)")
    op.execute(
        "create index ix_listing_match_website_hosts on pipeline.listing_match using gin (website_hosts)"
    )
    op.execute("create index ix_listing_match_address_key on pipeline.listing_match (address_key)")
    op.execute("create index ix_listing_match_region_name on pipeline.listing_match (region_key, name_key)")


def downgrade() -> None:
    for index in ("region_name", "address_key", "website_hosts", "phones"):
        op.execute(f"drop index if exists pipeline.ix_listing_match_{index}")
    op.execute(refresh_listing_match(with_blocks=False))
    op.execute("alter table pipeline.listing_match drop column names")
    op.execute("alter table pipeline.listing_match drop column region_key")
    for schema in ("public", "staging"):
        op.execute(f"alter table {schema}.locations drop column region_key")
