-- Every public listing has a location that places it: coordinates, or a street address and a city
-- (a location row with neither is no location).
select l.id
from {{ source('public', 'listings') }} as l
left join {{ source('public', 'locations') }} as loc on l.location_id = loc.id
where not coalesce(
    (loc.lat is not null and loc.lng is not null)
    or (nullif(trim(loc.address1), '') is not null and nullif(trim(loc.city), '') is not null),
    false
)
