-- A DMO shows a listing through one listing_info at most (a second record of the same place waits in review).
select
    listing_id,
    dmo_id,
    count(*) as visible_rows
from {{ source('public', 'listing_info') }}
where info_visible
group by listing_id, dmo_id
having count(*) > 1
