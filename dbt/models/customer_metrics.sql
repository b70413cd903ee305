-- One row per customer: their tickets and how long they waited for first replies.
-- Definitions: docs/metrics.md.
with customers as (
    select id as customer_id, name, plan from {{ source('support_api', 'customers') }}
),

tickets as (
    select customer_id, ticket_id, is_solved, first_reply_hours from {{ ref('ticket_metrics') }}
)

select
    customers.customer_id,
    customers.name,
    customers.plan,
    count(tickets.ticket_id) as tickets,
    count(case when not tickets.is_solved then 1 end) as unsolved_tickets,
    count(tickets.first_reply_hours) as replied_tickets,
    avg(tickets.first_reply_hours) as avg_first_reply_hours,
    percentile_cont(0.5) within group (order by tickets.first_reply_hours) as median_first_reply_hours,
    max(tickets.first_reply_hours) as max_first_reply_hours
from customers
left join tickets on tickets.customer_id = customers.customer_id
group by customers.customer_id, customers.name, customers.plan
