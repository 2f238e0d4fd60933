-- Every public listing points at an existing location.
select l.id
from {{ source('public', 'listings') }} as l
left join {{ source('public', 'locations') }} as loc on l.location_id = loc.id
where loc.id is null
