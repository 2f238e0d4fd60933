"""The tables of the images step.

- `pipeline.images`: one row per image URL of a DMO: the last fetch's status (downloaded, unchanged,
  failed + reason), the validators for a conditional GET (ETag, Last-Modified), the content's SHA-256
  (identical content is stored once), perceptual hashes, size, and where the original and renditions
  are stored;
- `pipeline.image_fetches`: what each job did to each image (the image page's queue and results);
- `staging.listing_images`: the image's id, status, renditions and pHash beside canonical_image_url;
  `staging.listings.reserved_listing_id`: the listing id a record without a listing gets at promotion,
  reserved by the images step, which stores images under it;
  `staging.listing_info.images_hash`: the record's processed image list (a fetched image changes it);
- `public.listing_images`: the source URL, renditions, size and pHash of each image;
  `public.listing_info.images_hash`, compared at promotion;
- `pipeline.listing_match.image_phashes`: the listing's pHashes, a matching feature.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 17:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
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
                    {image_columns}updated_at
                )
                select
                    l.id, l.name, l.name_key, pl.address1, pl.city, pl.zip, pl.country, pl.lat, pl.lng, pl.geog,
                    nullif(upper(regexp_replace(pl.zip, '[^A-Za-z0-9]', '', 'g')), ''),
                    pl.address_key, pl.house_number, pl.city_key,
                    coalesce(array_agg(distinct ci.international_phone) filter (where ci.international_phone is not null), '{{}}'),
                    coalesce(array_agg(distinct ci.website_host) filter (where ci.website_host is not null), '{{}}'),
                    coalesce(array_agg(distinct ci.website_url) filter (where ci.website_url is not null), '{{}}'),
                    coalesce(array_agg(distinct li.category) filter (where li.category is not null), '{{}}'),
                    {image_values}now()
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
                    {image_update}updated_at = now()
                returning 1
            )
            select (select count(*) from fresh)::integer + (select count(*) from gone)::integer
        $$
        """


def refresh_listing_match(*, with_images: bool) -> str:
    """The matching index's refresh function, with the listing's image pHashes (0007) or without (0006)."""
    image_values = """coalesce((
                        select array_agg(distinct img.phash::text)
                        from public.listing_info as li2
                        join public.listing_images as img on img.listing_info_id = li2.id
                        where li2.listing_id = l.id and img.phash is not null
                    ), '{}'),
                    """
    return REFRESH_LISTING_MATCH.format(
        image_columns="image_phashes, " if with_images else "",
        image_values=image_values if with_images else "",
        image_update="image_phashes = excluded.image_phashes, " if with_images else "",
    )


def upgrade() -> None:
    op.execute(
        """
        create table pipeline.images (
            id bigserial primary key,
            dmo_id integer not null references public.dmos (id),
            url text not null,
            url_key char(64) not null,  -- sha256 of the URL: URLs can outgrow a btree entry
            status text not null default 'pending',
            reason text,
            detail text,
            http_status integer,
            etag text,
            last_modified text,
            content_type text,
            sha256 char(64),
            source_format text,
            width integer,
            height integer,
            bytes integer,
            phash char(16),
            dhash char(16),
            listing_id integer,
            canonical_url text,
            renditions jsonb not null default '{}',
            attempts integer not null default 0,
            first_job_id bigint,
            last_job_id bigint,
            fetched_at timestamp,
            checked_at timestamp,
            created_at timestamp not null default now(),
            updated_at timestamp not null default now(),
            constraint status check (status in ('pending', 'downloaded', 'unchanged', 'failed')),
            constraint uq_images_dmo_url unique (dmo_id, url_key)
        )
        """
    )
    op.execute("create index ix_images_sha256 on pipeline.images (sha256)")
    op.execute("create index ix_images_status on pipeline.images (dmo_id, status)")
    op.execute(
        """
        create table pipeline.image_fetches (
            id bigserial primary key,
            job_id bigint references pipeline.jobs (id) on delete cascade,
            image_id bigint not null references pipeline.images (id) on delete cascade,
            status text not null,
            reason text,
            detail text,
            http_status integer,
            bytes integer,
            elapsed_ms integer,
            created_at timestamp not null default now()
        )
        """
    )
    op.execute("create index ix_image_fetches_job_id on pipeline.image_fetches (job_id)")
    op.execute("create index ix_image_fetches_image_id on pipeline.image_fetches (image_id, id)")

    op.execute("alter table staging.listing_images add column image_id bigint")
    op.execute("alter table staging.listing_images add column status text")
    op.execute("alter table staging.listing_images add column renditions jsonb")
    op.execute("alter table staging.listing_images add column phash char(16)")
    op.execute("alter table staging.listing_images add column width integer")
    op.execute("alter table staging.listing_images add column height integer")
    op.execute("create index ix_listing_images_image_id on staging.listing_images (job_id, image_id)")
    op.execute("alter table staging.listings add column reserved_listing_id integer")
    op.execute("alter table staging.listing_info add column images_hash char(64)")

    op.execute("alter table public.listing_images add column source_url text")
    op.execute("alter table public.listing_images add column renditions jsonb")
    op.execute("alter table public.listing_images add column width integer")
    op.execute("alter table public.listing_images add column height integer")
    op.execute("alter table public.listing_images add column phash char(16)")
    op.execute("alter table public.listing_info add column images_hash char(64)")

    op.execute("alter table pipeline.listing_match add column image_phashes text[] not null default '{}'")
    op.execute(refresh_listing_match(with_images=True))


def downgrade() -> None:
    op.execute("alter table pipeline.listing_match drop column image_phashes")
    for column in ("source_url", "renditions", "width", "height", "phash"):
        op.execute(f"alter table public.listing_images drop column {column}")
    op.execute("alter table public.listing_info drop column images_hash")
    for column in ("image_id", "status", "renditions", "phash", "width", "height"):
        op.execute(f"alter table staging.listing_images drop column {column}")
    op.execute("alter table staging.listings drop column reserved_listing_id")
    op.execute("alter table staging.listing_info drop column images_hash")
    op.execute("drop table pipeline.image_fetches")
    op.execute("drop table pipeline.images")
    op.execute(refresh_listing_match(with_images=False))  # 0006's definition
