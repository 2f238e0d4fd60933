-- Dependents whose parent row is missing (the foreign keys forbid it; this names any that slipped through).
select
    'listing_images' as dependent,
    img.id
from {{ source('public', 'listing_images') }} as img
left join {{ source('public', 'listing_info') }} as li on img.listing_info_id = li.id
where li.id is null
union all
select
    'opening_dates' as dependent,
    od.id
from {{ source('public', 'opening_dates') }} as od
left join {{ source('public', 'listing_info') }} as li on od.listing_info_id = li.id
where li.id is null
union all
select
    'opening_hours' as dependent,
    oh.id
from {{ source('public', 'opening_hours') }} as oh
left join {{ source('public', 'opening_dates') }} as od on oh.opening_date_id = od.id
where od.id is null
union all
select
    'listing_info without listing' as dependent,
    li.id
from {{ source('public', 'listing_info') }} as li
left join {{ source('public', 'listings') }} as l on li.listing_id = l.id
where l.id is null
