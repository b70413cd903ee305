-- One row per day (UTC), from the first ticket's day to today: tickets opened, tickets
-- solved, and the backlog (tickets open at the end of the day). Definitions: docs/metrics.md.
with tickets as (
    select created_day, solved_day from {{ ref('ticket_metrics') }}
),

bounds as (
    select
        cast(min(created_day) as timestamp) as first_day,
        cast(cast(now() at time zone 'UTC' as date) as timestamp) as last_day
    from tickets
),

days as (
    select cast(series.day as date) as day
    from bounds
    cross join generate_series(bounds.first_day, bounds.last_day, interval '1 day') as series(day)
    where bounds.first_day is not null
),

opened as (
    select created_day as day, count(*) as opened from tickets group by created_day
),

solved as (
    select solved_day as day, count(*) as solved
    from tickets
    where solved_day is not null
    group by solved_day
)

select
    days.day,
    coalesce(opened.opened, 0) as opened,
    coalesce(solved.solved, 0) as solved,
    cast(sum(coalesce(opened.opened, 0) - coalesce(solved.solved, 0))
        over (order by days.day rows between unbounded preceding and current row) as bigint) as backlog
from days
left join opened on opened.day = days.day
left join solved on solved.day = days.day
