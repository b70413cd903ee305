{# Hours from `start` to `end` as a float, the same on DuckDB and PostgreSQL; null when either is null. #}
{% macro hours_between(start, end) -%}
    cast((extract(epoch from {{ end }}) - extract(epoch from {{ start }})) / 3600.0 as double precision)
{%- endmacro %}
