-- An archived (or merged) listing is hidden for every DMO.
select
    id,
    listing_status
from {{ source('public', 'listings') }}
where listing_status in ('archived', 'merged') and listing_visible
