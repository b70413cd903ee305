-- One row per ticket: when it got its first reply, how long it took to resolve, how many comments.
-- Definitions: docs/metrics.md.
with tickets as (
    select
        id as ticket_id,
        customer_id,
        status,
        priority,
        channel,
        cast(created_at as timestamp with time zone) as created_at,
        cast(updated_at as timestamp with time zone) as updated_at,
        status in ('solved', 'closed') as is_solved
    from {{ source('support_api', 'customer_support_data') }}
),

comments as (
    select
        ticket_id,
        author_type,
        cast(created_at as timestamp with time zone) as created_at
    from {{ source('support_api', 'ticket_comments') }}
),

per_ticket as (
    select
        tickets.ticket_id,
        count(comments.ticket_id) as comments,
        -- The first comment by an agent at or after the ticket was opened.
        min(case when comments.author_type = 'agent' and comments.created_at >= tickets.created_at
                 then comments.created_at end) as first_reply_at
    from tickets
    left join comments on comments.ticket_id = tickets.ticket_id
    group by tickets.ticket_id
),

measured as (
    select
        tickets.ticket_id,
        tickets.customer_id,
        tickets.status,
        tickets.priority,
        tickets.channel,
        tickets.is_solved,
        tickets.created_at,
        per_ticket.first_reply_at,
        -- The API has no solved_at: a solved or closed ticket's last change stands for it.
        case when tickets.is_solved then tickets.updated_at end as solved_at,
        per_ticket.comments
    from tickets
    inner join per_ticket on per_ticket.ticket_id = tickets.ticket_id
)

select
    ticket_id,
    customer_id,
    status,
    priority,
    channel,
    is_solved,
    created_at,
    cast(created_at at time zone 'UTC' as date) as created_day,
    first_reply_at,
    {{ hours_between('created_at', 'first_reply_at') }} as first_reply_hours,
    solved_at,
    cast(solved_at at time zone 'UTC' as date) as solved_day,
    {{ hours_between('created_at', 'solved_at') }} as resolution_hours,
    comments
from measured
